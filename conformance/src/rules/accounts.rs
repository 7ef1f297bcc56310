//! Registration, login and the current user.

use std::time::Duration;

use serde_json::{Value, json};

use crate::check::{self, assert_user, int};
use crate::client::{Client, Resp};
use crate::fixtures::{self, Account, Ctx, register_raw, strong_password, unique};
use crate::host::{Config, Launch};

/// Asserts `400 REQ_001` whose `error.details` names `field`.
#[track_caller]
fn assert_names_field(r: &Resp, field: &str, what: &str) {
    let err = r.expect_error(400, "REQ_001");
    let details = err.get("details").unwrap_or_else(|| {
        panic!(
            "{what}: 400 REQ_001 without error.details naming `{field}`: {}",
            r.snippet()
        )
    });
    assert!(
        details.to_string().contains(field),
        "{what}: error.details must name the field `{field}`: {details}"
    );
}

/// `POST /api/accounts/register` answers 201 with exactly a token pair and `user`:
/// `token_type` "Bearer", `expires_in` the access lifetime (900 by default), and the user
/// `{id (integer), username, email, is_active: true, is_admin: false, created_at (ms)}`.
pub async fn register_returns_token_pair_and_user<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = unique("reg");
    let email = format!("{username}@example.com");
    let password = strong_password();
    let r = register_raw(&c, &username, &email, &password).await;
    let body = r.ok_json(201);
    let account = Account::from_auth(&body, &password, 900, "registration");
    assert_eq!(account.user["username"], json!(username));
    assert_eq!(account.user["email"], json!(email));
    assert_eq!(account.user["is_active"], json!(true));
    assert_eq!(account.user["is_admin"], json!(false));
    // The tokens work at once.
    let me = fixtures::whoami(&c, &account.access).await.ok_json(200);
    assert_eq!(
        me, account.user,
        "GET /api/accounts/user must return the registered user"
    );
}

/// The username is stored as typed and matched case-insensitively: login with another case
/// works and returns the stored spelling.
pub async fn username_is_stored_as_typed_and_matched_case_insensitively<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = format!("MiXeD_{}", check::random_alnum(8));
    let password = strong_password();
    let body = register_raw(
        &c,
        &username,
        &format!("{}@example.com", username.to_lowercase()),
        &password,
    )
    .await
    .ok_json(201);
    assert_eq!(body["user"]["username"], json!(username));
    for variant in [username.to_lowercase(), username.to_uppercase()] {
        let body = fixtures::login(&c, &variant, &password).await.ok_json(200);
        assert_eq!(
            body["user"]["username"],
            json!(username),
            "login as {variant}"
        );
    }
}

/// A username or email already registered, in any case, is `409 AUTH_009`.
pub async fn duplicate_username_or_email_is_auth_009<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let first = ctx.register(&c).await;
    let cases = [
        (
            first.username.clone(),
            format!("{}@example.org", unique("other")),
        ),
        (
            first.username.to_uppercase(),
            format!("{}@example.org", unique("other")),
        ),
        (unique("other"), first.email.clone()),
        (unique("other"), first.email.to_uppercase()),
    ];
    for (username, email) in cases {
        register_raw(&c.fresh(), &username, &email, &strong_password())
            .await
            .expect_error(409, "AUTH_009");
    }
}

/// A refused registration does not say which part collided: a taken username, a taken
/// email and both taken get the same answer — `409 AUTH_009`, the same message, no
/// `details` — so registration cannot tell an attacker whether a given email (or a given
/// username) has an account beyond the contract's one code for "username or email". (The
/// `request_id` differs, of course, and is left out of the comparison.)
pub async fn duplicate_registration_does_not_say_which_part_collided<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let first = ctx.register(&c).await;
    let cases = [
        (
            "username taken",
            first.username.clone(),
            format!("{}@example.org", unique("other")),
        ),
        (
            "username taken, other case",
            first.username.to_uppercase(),
            format!("{}@example.org", unique("other")),
        ),
        ("email taken", unique("other"), first.email.clone()),
        (
            "email taken, other case",
            unique("other"),
            first.email.to_uppercase(),
        ),
        ("both taken", first.username.clone(), first.email.clone()),
    ];
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for (what, username, email) in cases {
        let r = register_raw(&c.fresh(), &username, &email, &strong_password()).await;
        let mut body = r.expect_error(409, "AUTH_009");
        assert!(
            body.get("details").is_none(),
            "{what}: AUTH_009 with details, which may name the colliding field: {body}"
        );
        if let Some(err) = body.as_object_mut() {
            err.remove("request_id");
        }
        answers.push((what, body));
    }
    let (first_what, first_body) = &answers[0];
    for (what, body) in &answers[1..] {
        assert_eq!(
            body, first_body,
            "the answer for \"{what}\" differs from the one for \"{first_what}\""
        );
    }
}

/// Usernames are 3–150 characters of letters, digits and `@.+-_`; anything else is
/// `400 REQ_001` naming `username`.
pub async fn username_rules<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let long_ok = format!("u{}", check::random_alnum(149));
    let short_ok = check::random_alnum(3);
    let symbols_ok = format!("a.b@c+d-e_{}", check::random_alnum(6));
    for username in [long_ok, short_ok, symbols_ok] {
        register_raw(
            &c.fresh(),
            &username,
            &format!("{}@example.com", unique("e")),
            &strong_password(),
        )
        .await
        .expect(201);
    }
    let too_long = format!("u{}", check::random_alnum(150));
    let bad = [
        "".to_owned(),
        "ab".to_owned(),
        too_long,
        format!("has space{}", check::random_alnum(4)),
        format!("semi;colon{}", check::random_alnum(4)),
        format!("slash/{}", check::random_alnum(4)),
        format!("emoji\u{1F600}{}", check::random_alnum(4)),
        format!("zero\u{200B}width{}", check::random_alnum(4)),
        format!("nul\u{0}{}", check::random_alnum(4)),
        format!("rtl\u{202E}{}", check::random_alnum(4)),
    ];
    for username in bad {
        let r = register_raw(
            &c.fresh(),
            &username,
            &format!("{}@example.com", unique("e")),
            &strong_password(),
        )
        .await;
        assert_names_field(&r, "username", &format!("username {username:?}"));
    }
}

/// An email of invalid syntax is `400 REQ_001` naming `email`.
pub async fn email_rules<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    for email in [
        "",
        "not-an-email",
        "a@",
        "@example.com",
        "a b@example.com",
        "a@@example.com",
    ] {
        let r = register_raw(&c.fresh(), &unique("mail"), email, &strong_password()).await;
        assert_names_field(&r, "email", &format!("email {email:?}"));
    }
}

/// Passwords are 8–4096 characters, not all digits, not equal to the username; violations
/// are `400 REQ_001` naming `password`. Characters, not bytes: 4096 two-byte characters and
/// eight emoji are accepted.
pub async fn password_rules<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = unique("pwrule");
    let bad = [
        "".to_owned(),
        "short1!".to_owned(),
        "12345678901".to_owned(),
        username.clone(),
        "p".repeat(4097),
    ];
    for password in bad {
        let r = register_raw(
            &c.fresh(),
            &username,
            &format!("{username}@example.com"),
            &password,
        )
        .await;
        assert_names_field(
            &r,
            "password",
            &format!("password of {} characters", password.chars().count()),
        );
    }
    for password in [
        "eight ch".to_owned(),
        "\u{e9}".repeat(4096),
        "\u{1F600}".repeat(8),
    ] {
        let name = unique("pwok");
        let body = register_raw(&c.fresh(), &name, &format!("{name}@example.com"), &password)
            .await
            .ok_json(201);
        assert_user(&body["user"], "user");
        fixtures::login(&c.fresh(), &name, &password)
            .await
            .expect(200);
    }
}

/// Missing fields, `null`s and wrong types on registration are `400 REQ_001`.
pub async fn register_missing_or_mistyped_fields_are_req_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let u = unique("typed");
    let e = format!("{u}@example.com");
    let p = strong_password();
    let bodies = [
        json!({}),
        json!({"email": e, "password": p}),
        json!({"username": u, "password": p}),
        json!({"username": u, "email": e}),
        json!({"username": null, "email": e, "password": p}),
        json!({"username": 12345, "email": e, "password": p}),
        json!({"username": u, "email": ["x"], "password": p}),
        json!({"username": u, "email": e, "password": 12345678}),
        json!({"username": u, "email": e, "password": {"a": 1}}),
        json!({"username": true, "email": false, "password": null}),
    ];
    for body in bodies {
        c.fresh()
            .post("/api/accounts/register")
            .json(&body)
            .send()
            .await
            .expect_error(400, "REQ_001");
    }
}

/// Login accepts the username or the email, in any case, and answers 200 with a token pair
/// and the user.
pub async fn login_with_username_or_email<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    for id in [
        account.username.clone(),
        account.username.to_uppercase(),
        account.email.clone(),
        account.email.to_uppercase(),
    ] {
        let body = fixtures::login(&c, &id, &account.password)
            .await
            .ok_json(200);
        let logged = Account::from_auth(&body, &account.password, ctx.access_ttl(), "login");
        assert_eq!(logged.user, account.user, "login as {id}");
        fixtures::whoami(&c, &logged.access).await.expect(200);
    }
}

/// An unknown user and a wrong password get the same answer: `401 AUTH_004` with the same
/// message; never `AUTH_005`.
pub async fn login_failure_is_the_same_for_unknown_user_and_wrong_password<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let wrong = fixtures::login(&c.fresh(), &account.username, "Wrong-password-1").await;
    let unknown = fixtures::login(&c.fresh(), &unique("ghost"), "Wrong-password-1").await;
    let e1 = wrong.expect_error(401, "AUTH_004");
    let e2 = unknown.expect_error(401, "AUTH_004");
    assert_eq!(
        e1["message"], e2["message"],
        "messages differ: unknown user is revealed"
    );
    assert!(
        !wrong.snippet().contains("Wrong-password-1"),
        "password echoed"
    );
}

/// Login for an unknown user costs about the same time as a wrong password: the median of
/// each differs by less than a factor of 3 (and 50 ms), so usernames cannot be enumerated by
/// timing. (A coarse black-box check; the exact bound is the suite's choice.)
pub async fn login_timing_does_not_reveal_unknown_users<L: Launch>(launch: &L) {
    let ctx = Ctx::start(
        launch,
        Config::standard().set("CUTTY_PBKDF2_ITERATIONS", 200_000),
    )
    .await;
    let c = ctx.client();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        // One wrong attempt per user and per IP: no progressive delay gets in the way.
        let account = ctx.register(&c.fresh()).await;
        for (name, out) in [
            (account.username.clone(), &mut known),
            (unique("ghost"), &mut unknown),
        ] {
            let client = c.fresh();
            let start = std::time::Instant::now();
            fixtures::login(&client, &name, "Wrong-password-1")
                .await
                .expect_error(401, "AUTH_004");
            out.push(start.elapsed());
        }
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2], unknown[2]);
    let (lo, hi) = if k < u { (k, u) } else { (u, k) };
    assert!(
        hi < lo * 3 + Duration::from_millis(50),
        "median login time: wrong password {k:?}, unknown user {u:?}"
    );
}

/// Missing fields or wrong types on login are `400 REQ_001`.
pub async fn login_missing_or_mistyped_fields_are_req_001<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    for body in [
        json!({}),
        json!({"username": "someone"}),
        json!({"password": "something-long"}),
        json!({"username": 1, "password": "something-long"}),
        json!({"username": "someone", "password": ["x"]}),
    ] {
        c.fresh()
            .post("/api/accounts/login")
            .json(&body)
            .send()
            .await
            .expect_error(400, "REQ_001");
    }
}

/// `GET /api/accounts/user` with a JWT answers 200 with the bare user object (no wrapper).
pub async fn current_user_is_the_bare_user<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let account = ctx.register(&c).await;
    let me: Value = fixtures::whoami(&c, &account.access).await.ok_json(200);
    assert_user(&me, "GET /api/accounts/user");
    assert_eq!(int(&me["id"], "id"), account.id);
    assert_eq!(me, account.user);
}

/// Registering the same username concurrently admits exactly one (201); the others are
/// `409 AUTH_009`.
pub async fn concurrent_registration_admits_one<L: Launch>(launch: &L) {
    let ctx = Ctx::start(launch, Config::standard()).await;
    let c = ctx.client();
    let username = unique("race");
    let mut set = tokio::task::JoinSet::new();
    for i in 0..6 {
        let client: Client = c.fresh();
        let username = username.clone();
        set.spawn(async move {
            register_raw(
                &client,
                &username,
                &format!("{username}{i}@example.com"),
                "Race-password-1",
            )
            .await
        });
    }
    let mut created = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap_or_else(|e| panic!("task failed: {e}"));
        if r.status == 201 {
            created += 1;
        } else {
            r.expect_error(409, "AUTH_009");
        }
    }
    assert_eq!(
        created, 1,
        "exactly one concurrent registration may succeed"
    );
}
