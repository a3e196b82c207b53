//! The `[[users]]` checks: ids, roles, replicas, buckets, peak hours, kinds, subfolder
//! templates and rates, in the order they have always run, so a user with several
//! problems is refused for the same one. Replicas are expanded here, each checked
//! against every user before it.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{
    Cx, MAX_KEY_BYTES, MAX_REPLICAS, MAX_USER_OPS_PER_MIN, MAX_USERS, ProfileError, UserSection, check_bucket, is_role,
    parse_template, replica_suffix, template_max_len,
};
use crate::config::plan::{Kind, Rates, Template, UserPlan};
use crate::config::schedule::PeakWindow;

/// What the sections before `[[users]]` decided that a user is checked against.
pub(super) struct Shape<'a> {
    pub rates: &'a Rates,
    pub kinds: &'a [Kind],
    pub words: &'a BTreeMap<String, Vec<String>>,
}

/// One `[[users]]` entry, read: the parts the replicas share.
struct Persona {
    id: String,
    replicas: usize,
    bucket: String,
    peak: PeakWindow,
    activity: f64,
    kind_weights: Vec<f64>,
    subfolders: Vec<Template>,
}

impl Cx<'_> {
    /// `[[users]]`: at least one, each with its replicas expanded, at most `MAX_USERS`.
    pub(super) fn users(&self, list: &[Spanned<UserSection>], shape: &Shape) -> Result<Vec<UserPlan>, ProfileError> {
        if list.is_empty() {
            return Err(self.err(self.table_span("users"), "users", "at least one [[users]] entry is needed"));
        }
        let mut users: Vec<UserPlan> = Vec::new();
        let mut total_users = 0usize;
        for (i, us) in list.iter().enumerate() {
            let p = self.persona(i, us, shape, &users, &mut total_users)?;
            self.check_rate(i, us.get_ref(), shape.rates, &p)?;
            self.expand(i, us.get_ref(), p, &mut users)?;
        }
        Ok(users)
    }

    /// The entry `users[i]` on its own, and against the users before it (`users`).
    fn persona(
        &self,
        i: usize,
        us: &Spanned<UserSection>,
        shape: &Shape,
        users: &[UserPlan],
        total_users: &mut usize,
    ) -> Result<Persona, ProfileError> {
        let u = us.get_ref();
        let field = |name: &str| format!("users[{i}].{name}");
        let (id, replicas) = self.identity(i, us, users, total_users)?;
        let bucket = self.bucket(i, u, replicas, users)?;
        let peak = PeakWindow::parse(u.peak_hours.get_ref())
            .map_err(|m| self.err(u.peak_hours.span(), field("peak_hours"), m))?;
        let activity = self.positive(&u.activity, &field("activity"))?;
        let kind_weights = self.kind_weights(i, us, shape.kinds)?;
        let subfolders = self.subfolders(i, us, &id, replicas, shape)?;
        Ok(Persona { id, replicas, bucket, peak, activity, kind_weights, subfolders })
    }

    /// The id, the role, and the number of replicas (counted into `total_users`).
    fn identity(
        &self,
        i: usize,
        us: &Spanned<UserSection>,
        users: &[UserPlan],
        total_users: &mut usize,
    ) -> Result<(String, usize), ProfileError> {
        let u = us.get_ref();
        let field = |name: &str| format!("users[{i}].{name}");
        let id = u.id.get_ref().clone();
        if !(1..=64).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(self.err(
                u.id.span(),
                field("id"),
                format!("{id:?}: ids use letters, digits, '-' and '_' (1-64 chars)"),
            ));
        }
        if !is_role(&u.role) {
            return Err(self.err(
                us.span(),
                field("role"),
                format!("{:?}: a role uses letters, digits, spaces and - _ . , / ( ) + (1-64 chars)", u.role),
            ));
        }
        if users.iter().any(|p| p.id == id) {
            return Err(self.err(u.id.span(), field("id"), format!("{id:?} appears twice")));
        }
        let replicas = match &u.replicas {
            None => 1,
            Some(r) => {
                let n = *r.get_ref();
                if !(1..=MAX_REPLICAS as i64).contains(&n) {
                    return Err(self.err(r.span(), field("replicas"), format!("{n}: between 1 and {MAX_REPLICAS}")));
                }
                n as usize
            }
        };
        *total_users += replicas;
        if *total_users > MAX_USERS {
            let span = u.replicas.as_ref().map_or(u.id.span(), |r| r.span());
            return Err(self.err(
                span,
                field("replicas"),
                format!("the profile would have {total_users} users; at most {MAX_USERS}"),
            ));
        }
        Ok((id, replicas))
    }

    /// The first replica's bucket: valid, and no other persona's.
    fn bucket(&self, i: usize, u: &UserSection, replicas: usize, users: &[UserPlan]) -> Result<String, ProfileError> {
        let field = format!("users[{i}].bucket");
        // `{replica}` gives each replica a bucket of its own; without it they share one.
        let bucket = u.bucket.get_ref().replace("{replica}", &replica_suffix(1, replicas));
        if let Err(m) = check_bucket(&bucket) {
            return Err(self.err(u.bucket.span(), field, m));
        }
        if let Some(other) = users.iter().find(|p| p.bucket == bucket) {
            // Two personas in one bucket would delete each other's objects at cleanup;
            // a persona's replicas share theirs on purpose (their keys carry their ids).
            return Err(self.err(u.bucket.span(), field, format!("{bucket:?} is already {}'s bucket", other.persona)));
        }
        Ok(bucket)
    }

    /// The user's weight of each kind (indexed like `kinds`): known kinds, one positive.
    fn kind_weights(&self, i: usize, us: &Spanned<UserSection>, kinds: &[Kind]) -> Result<Vec<f64>, ProfileError> {
        let u = us.get_ref();
        let mut kind_weights = vec![0.0; kinds.len()];
        for (kname, w) in &u.kinds {
            let Some(ki) = kinds.iter().position(|k| &k.name == kname) else {
                let known: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
                return Err(self.err(
                    w.span(),
                    format!("users[{i}].kinds.{kname}"),
                    format!("unknown kind; the profile defines {}", known.join(", ")),
                ));
            };
            kind_weights[ki] = self.positive(w, &format!("users[{i}].kinds.{kname}"))?;
        }
        if kind_weights.iter().all(|w| *w == 0.0) {
            return Err(self.err(
                us.span(),
                format!("users[{i}].kinds"),
                "needs at least one kind with a positive weight",
            ));
        }
        Ok(kind_weights)
    }

    /// The subfolder templates: at least one, each making keys S3 accepts.
    fn subfolders(
        &self,
        i: usize,
        us: &Spanned<UserSection>,
        id: &str,
        replicas: usize,
        shape: &Shape,
    ) -> Result<Vec<Template>, ProfileError> {
        let (u, kinds, words) = (us.get_ref(), shape.kinds, shape.words);
        let field = format!("users[{i}].subfolders");
        if u.subfolders.is_empty() {
            return Err(self.err(us.span(), field, "needs at least one subfolder template"));
        }
        let mut subfolders = Vec::new();
        let ext_max = kinds.iter().flat_map(|k| k.extensions.iter().map(String::len)).max().unwrap_or(0);
        let kind_max = kinds.iter().map(|k| k.name.len()).max().unwrap_or(0).max("missing".len());
        for t in &u.subfolders {
            let tpl = parse_template(t.get_ref(), words).map_err(|m| self.err(t.span(), field.as_str(), m))?;
            // The longest key this template can make: a synced file's key repeats the
            // name part (`{sub}/{id}_sync_{millis}_{seq}/{id}_{kind}_{seq}_{i}{ext}`).
            let id_len = if replicas > 1 { id.len() + 1 + replica_suffix(replicas, replicas).len() } else { id.len() };
            let name = id_len + 1 + kind_max + 1 + 13 + 1 + 20 + ext_max + 3;
            let longest = template_max_len(&tpl, words) + 1 + 2 * name;
            if longest > MAX_KEY_BYTES {
                return Err(self.err(
                    t.span(),
                    field,
                    format!("{:?} can make keys of up to {longest} bytes; S3 allows {MAX_KEY_BYTES}", t.get_ref()),
                ));
            }
            subfolders.push(tpl);
        }
        Ok(subfolders)
    }

    /// The user's target at its busiest hour stays within what one worker can start.
    fn check_rate(&self, i: usize, u: &UserSection, rates: &Rates, p: &Persona) -> Result<(), ProfileError> {
        let peak_rate = rates.base_ops_per_min * p.activity * rates.peak_multiplier.max(rates.offpeak_multiplier);
        if peak_rate > MAX_USER_OPS_PER_MIN {
            return Err(self.err(
                u.activity.span(),
                format!("users[{i}].activity"),
                format!(
                    "asks for {peak_rate:.0} operations a minute at its busiest hour (base_ops_per_min × activity × multiplier); at most {MAX_USER_OPS_PER_MIN:.0} per user"
                ),
            ));
        }
        Ok(())
    }

    /// The persona's replicas (or the persona itself), each a user of its own.
    fn expand(&self, i: usize, u: &UserSection, p: Persona, users: &mut Vec<UserPlan>) -> Result<(), ProfileError> {
        let field = |name: &str| format!("users[{i}].{name}");
        let (id, replicas) = (&p.id, p.replicas);
        if replicas > 1 && id.len() + 1 + replica_suffix(replicas, replicas).len() > 64 {
            return Err(self.err(
                u.id.span(),
                field("id"),
                format!("{id:?} with a replica suffix is longer than 64 chars"),
            ));
        }
        for r in 1..=replicas {
            let (rid, rbucket) = if replicas == 1 {
                (id.clone(), p.bucket.clone())
            } else {
                let sfx = replica_suffix(r, replicas);
                (format!("{id}-{sfx}"), u.bucket.get_ref().replace("{replica}", &sfx))
            };
            if let Some(other) = users.iter().find(|o| o.id == rid) {
                return Err(self.err(
                    u.id.span(),
                    field("id"),
                    format!("replica {rid:?} has the id of {}'s user", other.persona),
                ));
            }
            if r > 1 {
                check_bucket(&rbucket).map_err(|m| self.err(u.bucket.span(), field("bucket"), m))?;
            }
            users.push(UserPlan {
                persona: id.clone(),
                id: rid,
                role: u.role.clone(),
                bucket: rbucket,
                peak: p.peak,
                activity: p.activity,
                kind_weights: p.kind_weights.clone(),
                subfolders: p.subfolders.clone(),
                stream: users.len(),
            });
        }
        Ok(())
    }
}
