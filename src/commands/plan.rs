//! `trafficgen plan`: each user's target per UTC hour.

pub fn run(plan: &crate::config::plan::Plan, json: bool) -> i32 {
    let table = plan.hourly_table();
    if json {
        println!("{}", serde_json::to_string_pretty(&table).expect("plain data serializes"));
    } else {
        print!("{}", super::describe::hourly(&table, plan));
    }
    0
}
