//! Users: the stored record, the registration rules of the contract, and [`UserStore`].
//!
//! Usernames are stored as typed and matched case-insensitively, and so are emails. The
//! case-folded form every store indexes is [`fold_case`], defined once here so the SQL, Redis
//! and Worker backends agree on what "the same username" means.
//!
//! ```
//! use cutty_core::user::{Registration, fold_case};
//!
//! let ok = Registration::new("Ada.Lovelace", "ada@example.org", "analytical-engine-1843")
//!     .validate()
//!     .expect("valid");
//! assert_eq!(ok.username_key(), "ada.lovelace");
//!
//! let err = Registration::new("ab", "not-an-email", "12345678").validate().unwrap_err();
//! assert_eq!(err.code().as_str(), "REQ_001");
//! assert_eq!(fold_case("ÀDA"), "àda");
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, FieldViolation, StoreError};

/// The shortest username the contract accepts, in characters.
pub const USERNAME_MIN_CHARS: usize = 3;
/// The longest username the contract accepts, in characters (Django's limit).
pub const USERNAME_MAX_CHARS: usize = 150;
/// The shortest password accepted for a new password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password accepted, in characters. Long enough for passphrases, short enough
/// that hashing cost stays bounded.
pub const PASSWORD_MAX_CHARS: usize = 4096;
/// The longest email address accepted (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// A stored user.
///
/// `password_hash` is a Django-format encoded hash; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Integer id, assigned by the store.
    pub id: i64,
    /// The username as typed at registration.
    pub username: String,
    /// The email as typed at registration.
    pub email: String,
    /// Django-format encoded password hash.
    pub password_hash: String,
    /// `false` once disabled: logins answer `AUTH_008` after a correct password.
    pub is_active: bool,
    /// Admins may call the admin and analytics endpoints.
    pub is_admin: bool,
    /// Logins answer `AUTH_007` after a correct password until the password is changed.
    pub password_reset_required: bool,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("is_active", &self.is_active)
            .field("is_admin", &self.is_admin)
            .field("password_reset_required", &self.password_reset_required)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl User {
    /// The contract's public `user` object.
    pub fn view(&self) -> UserView<'_> {
        UserView {
            id: self.id,
            username: &self.username,
            email: &self.email,
            is_active: self.is_active,
            is_admin: self.is_admin,
            created_at: self.created_at,
        }
    }
}

/// The contract's `user` JSON: `{id, username, email, is_active, is_admin, created_at}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UserView<'a> {
    /// Integer id.
    pub id: i64,
    /// Username as typed.
    pub username: &'a str,
    /// Email as typed.
    pub email: &'a str,
    /// Whether the account is enabled.
    pub is_active: bool,
    /// Whether the user is an admin.
    pub is_admin: bool,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// The case-folded key under which usernames and emails are unique and looked up.
///
/// Full Unicode lower-casing, so `ÄDA` and `äda` are the same user. Every store must index
/// and compare this form rather than applying its own (SQLite's `lower()` only folds ASCII).
pub fn fold_case(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// A registration request as received, before validation.
#[derive(Clone)]
pub struct Registration<'a> {
    username: &'a str,
    email: &'a str,
    password: &'a str,
}

impl fmt::Debug for Registration<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl<'a> Registration<'a> {
    /// Wraps the three fields of `POST /api/accounts/register`.
    pub fn new(username: &'a str, email: &'a str, password: &'a str) -> Self {
        Self {
            username,
            email,
            password,
        }
    }

    /// Applies the contract's rules to every field and reports all violations at once as
    /// `REQ_001` with one [`FieldViolation`] per failing field.
    pub fn validate(self) -> Result<ValidRegistration<'a>, Error> {
        let mut violations = Vec::new();
        if let Err(v) = validate_username(self.username) {
            violations.push(v);
        }
        if let Err(v) = validate_email(self.email) {
            violations.push(v);
        }
        if let Err(v) = validate_new_password(self.password, Some(self.username)) {
            violations.push(v);
        }
        if violations.is_empty() {
            Ok(ValidRegistration { inner: self })
        } else {
            Err(Error::InvalidRequest(violations))
        }
    }
}

/// A registration whose fields passed [`Registration::validate`]; only that function builds
/// one.
#[derive(Debug, Clone)]
pub struct ValidRegistration<'a> {
    inner: Registration<'a>,
}

impl<'a> ValidRegistration<'a> {
    /// The username as typed.
    pub fn username(&self) -> &'a str {
        self.inner.username
    }
    /// The case-folded username ([`fold_case`]).
    pub fn username_key(&self) -> String {
        fold_case(self.inner.username)
    }
    /// The email as typed.
    pub fn email(&self) -> &'a str {
        self.inner.email
    }
    /// The case-folded email ([`fold_case`]).
    pub fn email_key(&self) -> String {
        fold_case(self.inner.email)
    }
    /// The password, to be hashed by the caller.
    pub fn password(&self) -> &'a str {
        self.inner.password
    }
}

/// Django's username rule: 3–150 characters, each a letter, a digit or one of `@.+-_`.
pub fn validate_username(username: &str) -> Result<(), FieldViolation> {
    let chars = username.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&chars) {
        return Err(FieldViolation::new(
            "username",
            "must be 3 to 150 characters",
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'))
    {
        return Err(FieldViolation::new(
            "username",
            "may contain only letters, digits and @ . + - _",
        ));
    }
    Ok(())
}

/// Email syntax: `local@domain`, a dot-atom local part of at most 64 characters and a domain
/// of at least two labels of letters, digits and inner hyphens, at most 254 characters in all.
/// Quoted local parts and address literals are refused: no mail service a user registers with
/// needs them, and each is a parser edge case.
pub fn validate_email(email: &str) -> Result<(), FieldViolation> {
    let invalid = || FieldViolation::new("email", "must be a valid email address");
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid());
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(invalid());
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// The rules every new password obeys (registration and password change): 8–4096
/// characters, not all digits, and not the username (compared case-insensitively).
pub fn validate_new_password(password: &str, username: Option<&str>) -> Result<(), FieldViolation> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(FieldViolation::new(
            "password",
            "must be 8 to 4096 characters",
        ));
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(FieldViolation::new(
            "password",
            "must not be entirely numeric",
        ));
    }
    if username.is_some_and(|u| fold_case(u) == fold_case(password)) {
        return Err(FieldViolation::new("password", "must not be the username"));
    }
    Ok(())
}

/// A user to insert; built from a [`ValidRegistration`] and a password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Username as typed.
    pub username: String,
    /// Email as typed.
    pub email: String,
    /// Django-format encoded hash.
    pub password_hash: String,
    /// Whether the user is an admin (the CLI's `--admin`).
    pub is_admin: bool,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("is_admin", &self.is_admin)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl NewUser {
    /// A non-admin user from a validated registration.
    pub fn from_registration(
        reg: &ValidRegistration<'_>,
        password_hash: String,
        now_ms: i64,
    ) -> Self {
        Self {
            username: reg.username().to_owned(),
            email: reg.email().to_owned(),
            password_hash,
            is_admin: false,
            created_at: now_ms,
        }
    }

    /// The case-folded username key.
    pub fn username_key(&self) -> String {
        fold_case(&self.username)
    }

    /// The case-folded email key.
    pub fn email_key(&self) -> String {
        fold_case(&self.email)
    }
}

/// Why a user could not be created.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The username or email is taken (case-insensitively): `AUTH_009`. Which of the two is
    /// deliberately not said.
    #[error("username or email already registered")]
    AlreadyRegistered,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CreateUserError> for Error {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::AlreadyRegistered => Error::AlreadyRegistered,
            CreateUserError::Store(s) => Error::Store(s),
        }
    }
}

/// Persistence of users.
///
/// Uniqueness of [`fold_case`]d usernames and emails is the store's job and must hold under
/// concurrency: of two concurrent `create` calls for one username exactly one succeeds.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait UserStore: Send + Sync {
    /// Inserts a user, assigning its id. A taken username or email (case-insensitively, and
    /// a username equal to another's email does not count) is [`CreateUserError::AlreadyRegistered`].
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError>;

    /// The user with this id.
    async fn find_by_id(&self, id: i64) -> Result<Option<User>, StoreError>;

    /// [`find_by_id`](UserStore::find_by_id), shared: what every authenticated request
    /// asks for. The default wraps `find_by_id`'s answer; a store that keeps its users in
    /// memory overrides it to hand out its own copy without cloning the strings.
    async fn find_shared_by_id(&self, id: i64) -> Result<Option<Arc<User>>, StoreError> {
        Ok(self.find_by_id(id).await?.map(Arc::new))
    }

    /// The user whose username or, failing that, whose email matches `login`
    /// case-insensitively (the login form accepts either).
    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash (a changed password or a lazy re-hash) and, when
    /// `clear_reset_flag`, clears `password_reset_required`. `false` if no such user.
    async fn update_password_hash(
        &self,
        id: i64,
        password_hash: &str,
        clear_reset_flag: bool,
    ) -> Result<bool, StoreError>;

    /// Enables or disables the account. `false` if no such user.
    async fn set_active(&self, id: i64, active: bool) -> Result<bool, StoreError>;

    /// Sets or clears the "password reset required" flag. `false` if no such user.
    async fn set_password_reset_required(
        &self,
        id: i64,
        required: bool,
    ) -> Result<bool, StoreError>;
}

/// The conformance suite for [`UserStore`]: every backend runs these same assertions.
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;

    fn new_user(username: &str, email: &str, now: i64) -> NewUser {
        NewUser {
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash: "pbkdf2_sha256$1$salt$hash".to_owned(),
            is_admin: false,
            created_at: now,
        }
    }

    /// Runs every check below against `store`, which must be empty.
    pub async fn run_all<S: UserStore + ?Sized>(store: &S) {
        create_and_find(store).await;
        uniqueness_is_case_insensitive(store).await;
        concurrent_registrations_admit_one(store).await;
        updates(store).await;
    }

    /// Eight concurrent registrations of one username (in different cases, with different
    /// emails) give exactly one success; the rest are `AlreadyRegistered`.
    pub async fn concurrent_registrations_admit_one<S: UserStore + ?Sized>(store: &S) {
        let attempts = (0..8).map(|i| {
            let name = if i % 2 == 0 { "conf_race" } else { "CONF_RACE" };
            store.create(new_user(name, &format!("race{i}@example.org"), 1))
        });
        let results = futures::future::join_all(attempts).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(CreateUserError::AlreadyRegistered)))
        );
    }

    /// Creation assigns distinct ids, keeps the fields as typed, and look-ups by id, username
    /// and email (any case) find the user.
    pub async fn create_and_find<S: UserStore + ?Sized>(store: &S) {
        let a = store
            .create(new_user("Conf_Ada", "Conf.Ada@Example.org", 1_000))
            .await
            .unwrap();
        let b = store
            .create(new_user("conf_bob", "bob@example.org", 2_000))
            .await
            .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.username, "Conf_Ada");
        assert_eq!(a.email, "Conf.Ada@Example.org");
        assert!(a.is_active && !a.is_admin && !a.password_reset_required);
        assert_eq!(a.created_at, 1_000);
        assert_eq!(store.find_by_id(a.id).await.unwrap().as_ref(), Some(&a));
        assert_eq!(
            store.find_by_login("conf_ada").await.unwrap().as_ref(),
            Some(&a)
        );
        assert_eq!(
            store
                .find_by_login("CONF.ADA@EXAMPLE.ORG")
                .await
                .unwrap()
                .as_ref(),
            Some(&a)
        );
        assert_eq!(store.find_by_login("nobody").await.unwrap(), None);
        assert_eq!(store.find_by_id(i64::MAX).await.unwrap(), None);
    }

    /// Usernames and emails are unique case-insensitively, Unicode included.
    pub async fn uniqueness_is_case_insensitive<S: UserStore + ?Sized>(store: &S) {
        store
            .create(new_user("Ünïcode_Ü", "uni@example.org", 1))
            .await
            .unwrap();
        let dup_name = store
            .create(new_user("üNÏCODE_ü", "other@example.org", 1))
            .await;
        assert!(
            matches!(dup_name, Err(CreateUserError::AlreadyRegistered)),
            "{dup_name:?}"
        );
        let dup_mail = store
            .create(new_user("someone_else", "UNI@example.ORG", 1))
            .await;
        assert!(
            matches!(dup_mail, Err(CreateUserError::AlreadyRegistered)),
            "{dup_mail:?}"
        );
    }

    /// Password, active and reset flags update in place; unknown ids report `false`.
    pub async fn updates<S: UserStore + ?Sized>(store: &S) {
        let u = store
            .create(new_user("conf_upd", "upd@example.org", 5))
            .await
            .unwrap();
        assert!(store.set_password_reset_required(u.id, true).await.unwrap());
        assert!(store.set_active(u.id, false).await.unwrap());
        let got = store.find_by_id(u.id).await.unwrap().unwrap();
        assert!(!got.is_active && got.password_reset_required);
        assert!(
            store
                .update_password_hash(u.id, "pbkdf2_sha256$2$s$h", true)
                .await
                .unwrap()
        );
        let got = store.find_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(got.password_hash, "pbkdf2_sha256$2$s$h");
        assert!(!got.password_reset_required);
        assert!(!store.set_active(i64::MAX, true).await.unwrap());
        assert!(
            !store
                .update_password_hash(i64::MAX, "x", false)
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_password_reset_required(i64::MAX, true)
                .await
                .unwrap()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    /// A plain in-memory store to drive the conformance suite inside core.
    #[derive(Default)]
    struct VecUserStore(Mutex<Vec<User>>);

    #[async_trait::async_trait]
    impl UserStore for VecUserStore {
        async fn create(&self, u: NewUser) -> Result<User, CreateUserError> {
            let mut users = self.0.lock().unwrap();
            let (uk, ek) = (u.username_key(), u.email_key());
            if users
                .iter()
                .any(|x| fold_case(&x.username) == uk || fold_case(&x.email) == ek)
            {
                return Err(CreateUserError::AlreadyRegistered);
            }
            let user = User {
                id: users.len() as i64 + 1,
                username: u.username,
                email: u.email,
                password_hash: u.password_hash,
                is_active: true,
                is_admin: u.is_admin,
                password_reset_required: false,
                created_at: u.created_at,
            };
            users.push(user.clone());
            Ok(user)
        }
        async fn find_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
            Ok(self.0.lock().unwrap().iter().find(|u| u.id == id).cloned())
        }
        async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
            let key = fold_case(login);
            let users = self.0.lock().unwrap();
            Ok(users
                .iter()
                .find(|u| fold_case(&u.username) == key)
                .or_else(|| users.iter().find(|u| fold_case(&u.email) == key))
                .cloned())
        }
        async fn update_password_hash(
            &self,
            id: i64,
            h: &str,
            clear: bool,
        ) -> Result<bool, StoreError> {
            Ok(self.with(id, |u| {
                u.password_hash = h.to_owned();
                if clear {
                    u.password_reset_required = false;
                }
            }))
        }
        async fn set_active(&self, id: i64, active: bool) -> Result<bool, StoreError> {
            Ok(self.with(id, |u| u.is_active = active))
        }
        async fn set_password_reset_required(&self, id: i64, r: bool) -> Result<bool, StoreError> {
            Ok(self.with(id, |u| u.password_reset_required = r))
        }
    }

    impl VecUserStore {
        fn with(&self, id: i64, f: impl FnOnce(&mut User)) -> bool {
            let mut users = self.0.lock().unwrap();
            users.iter_mut().find(|u| u.id == id).map(f).is_some()
        }
    }

    #[test]
    fn conformance_suite_passes_on_reference_store() {
        futures::executor::block_on(conformance::run_all(&VecUserStore::default()));
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "a.b@c+d-e_f", "Ünïcode", "用户名", &"x".repeat(150)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "has space",
            "semi;colon",
            "tab\t",
            "slash/",
            &"x".repeat(151),
            "a\u{0}b",
        ] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x@xn--bcher-kva.example",
            "ü@exämple.de",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@b",
            "a..b@example.org",
            ".a@example.org",
            "a@-b.org",
            "a@b-.org",
            "a@b..org",
            "a b@example.org",
            "a@example.123",
            "a@[127.0.0.1]",
            "\"q\"@example.org",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(64));
        assert!(validate_email(&long).is_ok());
        let too_long_local = format!("{}@example.org", "a".repeat(65));
        assert!(validate_email(&too_long_local).is_err());
        let too_long = format!("a@{}.org", "b".repeat(260));
        assert!(validate_email(&too_long).is_err());
    }

    #[test]
    fn passwords() {
        assert!(validate_new_password("correct horse", None).is_ok());
        assert!(validate_new_password("short", None).is_err());
        assert!(validate_new_password("12345678901", None).is_err());
        assert!(validate_new_password("Alice12345", Some("alice12345")).is_err());
        assert!(validate_new_password(&"p".repeat(4096), None).is_ok());
        assert!(validate_new_password(&"p".repeat(4097), None).is_err());
        // Characters, not bytes: eight two-byte characters are enough.
        assert!(validate_new_password("éééééééé", None).is_ok());
    }

    #[test]
    fn registration_reports_every_failing_field() {
        let err = Registration::new("a", "b", "1").validate().unwrap_err();
        let Error::InvalidRequest(v) = err else {
            panic!("wrong error")
        };
        let fields: Vec<_> = v.iter().map(|f| f.field.as_ref()).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let r = Registration::new("alice", "a@example.org", "hunter2-secret");
        assert!(!format!("{r:?}").contains("hunter2"));
        let u = User {
            id: 1,
            username: "alice".into(),
            email: "a@example.org".into(),
            password_hash: "pbkdf2_sha256$1$salt$SECRETHASH".into(),
            is_active: true,
            is_admin: false,
            password_reset_required: false,
            created_at: 0,
        };
        assert!(!format!("{u:?}").contains("SECRETHASH"));
        let json = serde_json::to_value(u.view()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":1,"username":"alice","email":"a@example.org","is_active":true,"is_admin":false,"created_at":0})
        );
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in ".{0,300}") {
            let _ = validate_username(&s);
            let _ = validate_email(&s);
            let _ = validate_new_password(&s, Some(&s));
            let _ = Registration::new(&s, &s, &s).validate();
        }

        #[test]
        fn fold_case_is_idempotent_for_valid_usernames(s in "[a-zA-Z0-9@.+_-]{3,20}") {
            prop_assert!(validate_username(&s).is_ok());
            prop_assert_eq!(fold_case(&fold_case(&s)), fold_case(&s));
        }
    }
}
