//! `trafficgen plan`: each user's target per UTC hour.

use crate::model::error::Error;
use crate::model::verdict::Judgement;

pub fn run(plan: &crate::config::plan::Plan, json: bool) -> Result<Judgement, Error> {
    let table = plan.hourly_table();
    if json {
        println!("{}", serde_json::to_string_pretty(&table).expect("plain data serializes"));
    } else {
        print!("{}", super::describe::hourly(&table, plan));
    }
    Ok(Judgement::Pass)
}
