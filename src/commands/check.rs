//! `trafficgen check`: the validated profile on one screen.

pub fn run(plan: &crate::plan::Plan) -> i32 {
    print!("{}", plan.describe());
    0
}
