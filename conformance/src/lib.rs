//! # cutty-conformance
//!
//! The black-box HTTP conformance suite for every Cutty host — the axum server, the
//! actix-web server, the Cloudflare Worker — written from the HTTP contract
//! (`/work/shared/CONTRACT.md`) alone. Each rule of the contract is one async function in
//! [`rules`], generic over a [`Launch`] (something that starts a [`Host`] for a
//! [`Config`]); [`suite!`] expands them all into `#[tokio::test]`s named
//! `conformance::<area>::<rule>` in the host's own test file:
//!
//! ```ignore
//! use cutty_conformance::{Config, HostError, process::{ProcessHost, ProcessSpec, TempDir}};
//!
//! async fn start(config: Config) -> Result<ProcessHost, HostError> {
//!     let dir = TempDir::new("my-host")?;
//!     let db = format!("sqlite://{}/cutty.db", dir.path().display());
//!     ProcessHost::start(ProcessSpec::new(env!("CARGO_BIN_EXE_cutty"), dir).env("DATABASE_URL", db), config).await
//! }
//!
//! cutty_conformance::suite!(start);
//! ```
//!
//! Every response the suite sees is checked against the universal rules (never a 5xx, a
//! valid `X-Request-Id`, the error envelope with a known code sent with its status,
//! consistent rate-limit headers, `Retry-After` on 429s) before the rule looks at it. See
//! the README for how another host plugs in and for the choices made where the contract is
//! silent.
#![forbid(unsafe_code)]

pub mod check;
pub mod client;
pub mod fixtures;
pub mod host;
pub mod process;
pub mod rules;

pub use client::{Client, Resp};
pub use fixtures::Ctx;
pub use host::{Config, Host, HostError, Launch, Operation};

/// Expands every rule of the suite into a `#[tokio::test]` calling it with `$launch` (a
/// path to something implementing [`Launch`], typically an
/// `async fn(Config) -> Result<impl Host, HostError>`), inside `mod conformance { mod
/// <area> { … } }`. The calling crate needs `tokio` (with `macros` and `rt`) as a
/// dev-dependency.
#[macro_export]
macro_rules! suite {
    ($launch:path) => {
        $crate::__suite! { $launch;
        accounts {
            register_returns_token_pair_and_user,
            username_is_stored_as_typed_and_matched_case_insensitively,
            duplicate_username_or_email_is_auth_009,
            duplicate_registration_does_not_say_which_part_collided,
            username_rules,
            email_rules,
            password_rules,
            register_missing_or_mistyped_fields_are_req_001,
            login_with_username_or_email,
            login_failure_is_the_same_for_unknown_user_and_wrong_password,
            login_timing_does_not_reveal_unknown_users,
            login_missing_or_mistyped_fields_are_req_001,
            current_user_is_the_bare_user,
            concurrent_registration_admits_one,
        }
        admin {
            admin_routes_refuse_non_admins,
            invalidate_user_tokens_revokes_earlier_tokens_only,
            invalidate_user_tokens_keeps_api_keys,
            invalidate_user_tokens_validation,
        }
        api_keys {
            create_api_key_shape,
            create_api_key_validation,
            list_api_keys_shape_and_secrecy,
            api_key_authenticates_as_its_owner,
            malformed_api_key_is_api_001,
            unknown_api_key_is_api_002,
            expired_api_key_is_api_003,
            revoked_api_key_is_api_004,
            delete_unknown_or_foreign_key_is_req_004,
            api_key_permissions_are_enforced,
            api_key_on_jwt_only_endpoints_is_auth_010,
            api_key_usage_counts_requests,
            api_key_usage_counts_refused_requests,
        }
        bad_input {
            malformed_json_is_req_001,
            wrong_types_and_missing_fields_are_req_001,
            oversized_bodies_are_req_002,
            body_of_exactly_1_mib_is_accepted_for_parsing,
            wrong_content_type_is_req_006,
            odd_unicode_never_breaks_the_server,
            absurd_query_values_never_break_the_server,
            garbage_forwarding_headers_are_harmless,
        }
        blocking {
            blocked_ip_is_refused_everywhere_but_health,
            cidr_ranges_block_ipv4_and_ipv6,
            blocked_ips_list_shape,
            timed_block_expires,
            cli_block_reaches_the_server_within_5_seconds,
            block_ip_validation,
        }
        client_ip {
            spoofed_headers_from_untrusted_peers_are_ignored,
            forwarded_for_from_a_trusted_proxy_is_honoured,
            real_ip_from_a_trusted_proxy_is_honoured,
            cf_connecting_ip_wins_behind_cloudflare,
            cf_connecting_ip_is_ignored_unless_behind_cloudflare,
        }
        conventions {
            request_id_valid_is_echoed,
            request_id_invalid_is_replaced_by_uuid,
            request_id_generated_when_absent,
            request_id_on_every_kind_of_response,
            error_body_is_the_contract_envelope,
            json_in_and_out,
        }
        docs {
            docs_is_html,
            openapi_lists_every_route,
        }
        events {
            events_shape_and_order,
            auth_decisions_are_recorded,
            rate_limits_and_lockouts_are_recorded,
            events_filters,
            events_paging_with_cursor,
            events_bad_query_values_are_req_001,
            metrics_shape_and_counts,
        }
        files {
            upload_raw_body_and_download,
            upload_multipart_and_download,
            list_shows_own_files_only,
            other_users_file_is_file_002,
            delete_file,
            unknown_file_ids_are_file_002,
            upload_size_limit_is_file_004,
            default_upload_limit_is_10_mib,
            unaccepted_format_is_file_005,
            malformed_uploads_are_400,
            odd_file_names_are_handled,
        }
        health {
            health_is_ok_with_version,
            health_auth_reports_services,
            health_and_docs_count_against_no_limit,
        }
        lists {
            dedupe_removes_repeated_rows,
            columns_are_selected_in_order,
            split_rows_splits_the_output,
            malformed_rows_are_counted_and_skipped,
            process_validation,
        }
        lockout {
            failures_delay_then_the_fifth_locks_username_and_ip,
            failures_count_per_username_across_ips,
            failures_count_per_ip_across_usernames,
            failures_count_case_insensitively_for_unknown_users_too,
            refused_attempts_do_not_count,
            success_resets_the_counts,
            lock_lasts_the_configured_duration,
        }
        password {
            password_change_revokes_earlier_tokens,
            password_change_with_wrong_old_password_is_auth_004,
            password_change_applies_the_password_rules,
            password_change_keeps_api_keys,
            password_change_needs_a_jwt,
            disabled_account_is_auth_008_after_correct_password,
            disabled_account_tokens_stay_revoked,
            reset_required_is_auth_007_until_changed_with_username,
        }
        rate_limit {
            every_api_response_carries_rate_limit_headers,
            ip_limit_exact_count,
            user_limit_exact_count,
            api_key_limit_exact_count,
            api_key_override_replaces_the_limit,
            global_limit_exact_count,
            fewest_remaining_limit_is_reported,
            limit_admits_again_after_retry_after,
            default_limits,
            concurrent_requests_never_exceed_the_limit,
        }
        restart {
            token_revocations_survive_a_restart,
            blocks_and_key_revocations_survive_a_restart,
        }
        routing {
            unknown_routes_are_req_003,
            wrong_methods_are_req_005,
        }
        tokens {
            token_claims,
            token_settings_are_configurable,
            malformed_authorization_is_auth_001,
            forged_tokens_are_auth_001,
            hostile_kid_headers_are_auth_001,
            expired_tokens_are_auth_002,
            expiry_has_a_leeway,
            refresh_rotates_the_pair,
            refresh_reuse_revokes_the_family,
            concurrent_refresh_admits_one,
            refresh_with_wrong_token_is_refused,
            logout_revokes_the_access_token,
            logout_with_refresh_token_revokes_it,
            logout_requires_a_jwt,
        }
        }
    };
}

/// Implementation detail of [`suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __suite {
    ($launch:path; $( $area:ident { $( $rule:ident ),* $(,)? } )*) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                mod $area {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[::tokio::test]
                        async fn $rule() {
                            $crate::rules::$area::$rule(&$launch).await;
                        }
                    )*
                }
            )*
        }
    };
}
