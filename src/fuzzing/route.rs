//! Route classification and path normalisation: whatever the path, one classified as
//! pass-through never reads as a special route (neither as [`normalize_path`] nor as the most
//! generous router, [`generous_path`], reads it); a canonical path is classified by its
//! normalized form; and every canonical spelling of a special route (any letter case, an
//! optional trailing `/`) is classified as that route, POST only.

use http::Method;

use crate::sidecar::route::{generous_path, is_canonical, normalize_path, Kind, Route};

/// The routes the sidecar treats specially, in normalized form.
const SPECIAL: &[&str] = &[
    "/v1/jobs/create",
    "/v1/schedules/create",
    "/v1/schedules/update",
    "/v1/credentials/create",
    "/v1/credentials/update",
    "/v1/credentials/upsert",
    "/v1/credentials/delete",
    "/v1/credentials/get",
];

/// The kind a POST to a special route (normalized) has.
fn special_kind(normalized: &str) -> Option<Kind> {
    use crate::sidecar::route::CredentialWrite::{Create, Delete, Update, Upsert};
    Some(match normalized {
        "/v1/jobs/create" => Kind::Job,
        "/v1/schedules/create" | "/v1/schedules/update" => Kind::Schedule,
        "/v1/credentials/create" => Kind::CredentialWrite(Create),
        "/v1/credentials/update" => Kind::CredentialWrite(Update),
        "/v1/credentials/upsert" => Kind::CredentialWrite(Upsert),
        "/v1/credentials/delete" => Kind::CredentialWrite(Delete),
        "/v1/credentials/get" => Kind::CredentialRead,
        _ => return None,
    })
}

pub fn route(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    any_path(&path);
    canonical_spelling(data);
}

fn any_path(path: &str) {
    let normalized = normalize_path(path);
    let generous = generous_path(path);
    for method in [Method::POST, Method::GET, Method::PUT] {
        let route = Route::of(&method, path);
        assert_eq!(route.normalized(), normalized);
        let _ = (route.label(), route.echo(), route.is_batch());
        if route.kind() == Kind::PassThrough {
            assert!(
                special_kind(&normalized).is_none(),
                "{path:?} passes through but normalizes to {normalized}"
            );
            assert!(
                special_kind(&generous).is_none(),
                "{path:?} passes through but reads generously as {generous}"
            );
        }
        if route.kind() != Kind::NonCanonical {
            assert!(
                is_canonical(path) || !generous.starts_with("/v1/"),
                "{path:?} is not canonical, comes near /v1/ ({generous}) and was classified"
            );
        }
        if is_canonical(path) {
            let expected = match special_kind(&normalized) {
                Some(kind) if method != Method::POST && kind.is_read_whole() => Kind::NotPost,
                Some(kind) => kind,
                None => Kind::PassThrough,
            };
            assert_eq!(route.kind(), expected, "{method} {path:?}");
        }
    }
}

/// A special route spelled canonically from the input: which route, the letter case of each
/// character, and a trailing `/`.
fn canonical_spelling(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let special = SPECIAL[usize::from(*first) % SPECIAL.len()];
    let mut path: String = special
        .chars()
        .enumerate()
        .map(|(index, ch)| {
            let upper = rest
                .get(index / 8)
                .is_some_and(|byte| byte & (1 << (index % 8)) != 0);
            if upper {
                ch.to_ascii_uppercase()
            } else {
                ch
            }
        })
        .collect();
    if first & 0x80 != 0 {
        path.push('/');
    }
    assert!(is_canonical(&path), "{path:?} should be canonical");
    let expected = special_kind(special).expect("a special route has a kind");
    assert_eq!(Route::of(&Method::POST, &path).kind(), expected, "{path:?}");
    assert_eq!(Route::of(&Method::POST, &path).normalized(), special);
    if expected.is_read_whole() {
        assert_eq!(
            Route::of(&Method::GET, &path).kind(),
            Kind::NotPost,
            "{path:?}"
        );
    }
}
