//! Who runs, as the tables see them: each user's name, persona and bucket, and its
//! target rate for each simulated hour. The plan (config) makes one; the outputs read it,
//! so the tables, the live status and the operations log need no profile or rate model.

use crate::model::clock::TimeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    /// The profile's user this one was built from (a replica's persona is its id
    /// without the `-NNN` suffix). Tables group by it.
    pub persona: String,
    pub bucket: String,
    /// Target operations per minute in each UTC hour of the simulated day.
    pub hourly: [f64; 24],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    pub users: Vec<Member>,
    /// `--expand-replicas`: one column per user instead of one per persona.
    pub expand_replicas: bool,
}

/// A persona and the indices of its users (its replicas), in profile order.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaGroup {
    pub name: String,
    pub users: Vec<usize>,
}

/// Consecutive users with one persona form its group (replicas are expanded in order).
/// Shared with the plan, which groups its users without computing a roster's rates.
pub fn persona_groups<'a>(personas: impl IntoIterator<Item = &'a str>) -> Vec<PersonaGroup> {
    let mut out: Vec<PersonaGroup> = Vec::new();
    for (i, persona) in personas.into_iter().enumerate() {
        match out.last_mut() {
            Some(g) if g.name == persona => g.users.push(i),
            _ => out.push(PersonaGroup { name: persona.to_string(), users: vec![i] }),
        }
    }
    out
}

/// The rows of the tables and the columns of `plan`: one per persona (its replicas
/// summed), or one per user with `--expand-replicas`. Each with its users' indices.
/// `users` are (id, persona) pairs.
pub fn columns<'a>(users: impl IntoIterator<Item = (&'a str, &'a str)>, expand: bool) -> Vec<(String, Vec<usize>)> {
    let users: Vec<(&str, &str)> = users.into_iter().collect();
    if expand {
        return users.iter().enumerate().map(|(i, (id, _))| (id.to_string(), vec![i])).collect();
    }
    persona_groups(users.iter().map(|(_, p)| *p)).into_iter().map(|g| (g.name, g.users)).collect()
}

impl Roster {
    pub fn persona_groups(&self) -> Vec<PersonaGroup> {
        persona_groups(self.users.iter().map(|u| u.persona.as_str()))
    }

    pub fn columns(&self) -> Vec<(String, Vec<usize>)> {
        columns(self.users.iter().map(|u| (u.id.as_str(), u.persona.as_str())), self.expand_replicas)
    }

    /// Target operations for one user between two wall offsets.
    pub fn target_ops(&self, map: &TimeMap, user: usize, from: f64, to: f64) -> f64 {
        let hourly = &self.users[user].hourly;
        map.expected_ops(|h| hourly[h as usize % 24], from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, persona: &str, rate: f64) -> Member {
        Member { id: id.into(), persona: persona.into(), bucket: "b".into(), hourly: [rate; 24] }
    }

    #[test]
    fn replicas_fold_into_one_column_unless_expanded() {
        let mut r = Roster {
            users: vec![member("a", "a", 1.0), member("b-001", "b", 1.0), member("b-002", "b", 1.0)],
            expand_replicas: false,
        };
        assert_eq!(r.columns(), vec![("a".to_string(), vec![0]), ("b".to_string(), vec![1, 2])]);
        r.expand_replicas = true;
        assert_eq!(r.columns().len(), 3);
    }

    #[test]
    fn target_is_the_rate_integrated_over_the_window() {
        let r = Roster { users: vec![member("a", "a", 60.0)], expand_replicas: false };
        let map = TimeMap { sim_start: 0.0, scale: 1.0 };
        // 60 a minute for 120 s.
        assert!((r.target_ops(&map, 0, 0.0, 120.0) - 120.0).abs() < 1e-9);
    }
}
