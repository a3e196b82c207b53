//! `trafficgen check`: the validated profile on one screen, plus warnings about the
//! machine it would run on.

use crate::model::error::Error;
use crate::model::verdict::Judgement;

pub fn run(plan: &crate::config::plan::Plan) -> Result<Judgement, Error> {
    // Free text of the profile (env values, the endpoint) reaches the terminal without
    // control characters or escape sequences.
    print!("{}", crate::model::terminal::clean(&super::describe::describe(plan)));
    let tmp = std::env::temp_dir();
    if plan.limits.min_free_disk > 0
        && let Ok(total) = fs4::total_space(&tmp)
        && plan.limits.min_free_disk >= total
    {
        eprintln!(
            "warning: {}: limits.min_free_disk ({}) is not below the size of {}'s disk ({}): no upload would ever start there (use --temp-dir elsewhere, or lower it)",
            plan.source.display(),
            crate::model::units::human_bytes(plan.limits.min_free_disk),
            tmp.display(),
            crate::model::units::human_bytes(total)
        );
    }
    Ok(Judgement::Pass)
}
