//! The GitHub emulator behaves like GitHub where the bot depends on it:
//! app and installation auth, pagination, patches, review anchoring, check
//! run limits, OpenAPI validation, faults and the GraphQL documents.
//!
//! Every test ends with `assert_shapes`, which fails when one of the
//! emulator's own answers does not match GitHub's response schemas.

use crate::support::github_emulator::{Emulator, Fault, FileSpec, PullSpec};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;
const REPO: &str = "acme/shop";

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(fixture("test-app-private-key.pem").as_bytes())
            .expect("test private key parses");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &key,
    )
    .expect("sign JWT")
}

/// An app JWT as the bot makes it: `iat` 60 s in the past, 9 min lifetime.
fn app_jwt() -> String {
    sign(&json!({ "iat": now() - 60, "exp": now() + 540, "iss": APP_ID.to_string() }))
}

async fn start() -> Emulator {
    Emulator::start(APP_ID, &fixture("test-app-public-key.pem")).await
}

async fn start_without_openapi() -> Emulator {
    Emulator::start_without_openapi(APP_ID, &fixture("test-app-public-key.pem")).await
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(method: Method, url: &str, auth: Option<&str>, body: Option<&Value>) -> Answer {
    let mut request = Client::new().request(method, url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

async fn fetch_token(gh: &Emulator, installation: u64) -> String {
    let url = format!("{}/app/installations/{installation}/access_tokens", gh.url);
    let answer = call(
        Method::POST,
        &url,
        Some(&format!("Bearer {}", app_jwt())),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["token"]
        .as_str()
        .expect("token is a string")
        .to_owned()
}

/// An emulator with the app installed on `REPO` and an installation token.
async fn installed(gh: Emulator) -> (Emulator, String) {
    gh.add_installation(INSTALLATION, REPO);
    let token = fetch_token(&gh, INSTALLATION).await;
    (gh, format!("Bearer {token}"))
}

fn assert_shapes(gh: &Emulator) {
    let violations = gh.response_violations();
    assert!(
        violations.is_empty(),
        "the emulator's answers differ from GitHub's response schemas:\n{}",
        violations.join("\n")
    );
}

fn repo_url(gh: &Emulator, rest: &str) -> String {
    format!("{}/repos/{REPO}/{rest}", gh.url)
}

fn numbered_lines(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line{i}\n")).collect()
}

/// base: line1..line20. head: line5 changed, `added` after line12; two hunks.
fn two_hunk_file() -> (String, String) {
    let base = numbered_lines(1, 20);
    let head = base
        .replace("line5\n", "changed5\n")
        .replace("line12\n", "line12\nadded\n");
    (base, head)
}

const TWO_HUNK_PATCH: &str = "@@ -2,7 +2,7 @@ line1
 line2
 line3
 line4
-line5
+changed5
 line6
 line7
 line8
@@ -10,6 +10,7 @@ line9
 line10
 line11
 line12
+added
 line13
 line14
 line15";

fn sample_pull(head_sha: &str) -> PullSpec {
    let (base, head) = two_hunk_file();
    PullSpec {
        number: 1,
        base_sha: "base0".into(),
        head_sha: head_sha.into(),
        draft: false,
        files: vec![
            FileSpec::modified("app/views.py", &base, &head),
            FileSpec::added("app/new.py", "x = 1\ny = 2\n"),
            FileSpec::removed("old.txt", "gone\nalso gone\n"),
            FileSpec::added("logo.gif", "GIF89a\u{1}\u{2}").binary(),
            FileSpec::modified("big.py", "a\n", "a\nb\n").patch_omitted(),
            FileSpec::renamed("src/a.rs", "src/b.rs", "fn a() {}\n", "fn a() {}\n"),
            FileSpec::modified("notes.txt", "a\nb", "a\nc"),
        ],
    }
}

// ---- authentication -------------------------------------------------------

#[tokio::test]
async fn app_jwt_buys_an_installation_token_and_bad_jwts_get_401() {
    let gh = start().await;
    gh.add_installation(INSTALLATION, REPO);
    let url = format!("{}/app/installations/{INSTALLATION}/access_tokens", gh.url);

    let ok = call(
        Method::POST,
        &url,
        Some(&format!("Bearer {}", app_jwt())),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let token = ok.body["token"].as_str().expect("token");
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(ok.body["expires_at"].as_str().expect("expires_at"))
            .expect("RFC 3339");
    let lifetime = expires.timestamp() - now();
    assert!(
        (3590..=3600).contains(&lifetime),
        "token lives {lifetime} s"
    );
    assert_eq!(ok.body["repository_selection"], "all");

    // GitHub also takes `iss` as a number.
    let numeric = sign(&json!({ "iat": now() - 60, "exp": now() + 540, "iss": APP_ID }));
    let ok2 = call(Method::POST, &url, Some(&format!("Bearer {numeric}")), None).await;
    assert_eq!(ok2.status, StatusCode::CREATED);
    assert_ne!(ok2.body["token"], ok.body["token"], "every token is new");

    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "iat": now() - 60, "exp": now() + 540, "iss": APP_ID.to_string() }),
        &jsonwebtoken::EncodingKey::from_secret(b"not the app key"),
    )
    .expect("sign");
    let mut tampered = app_jwt();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    let bad = [
        ("HS256 with a shared secret", hs256),
        ("a tampered signature", tampered),
        (
            "a lifetime over 10 minutes",
            sign(&json!({ "iat": now() - 60, "exp": now() + 700, "iss": APP_ID.to_string() })),
        ),
        (
            "an expired JWT",
            sign(&json!({ "iat": now() - 700, "exp": now() - 100, "iss": APP_ID.to_string() })),
        ),
        (
            "iat two minutes ahead",
            sign(&json!({ "iat": now() + 120, "exp": now() + 600, "iss": APP_ID.to_string() })),
        ),
        (
            "another app's iss",
            sign(&json!({ "iat": now() - 60, "exp": now() + 540, "iss": "999" })),
        ),
        (
            "no iat",
            sign(&json!({ "exp": now() + 540, "iss": APP_ID.to_string() })),
        ),
    ];
    for (what, jwt) in bad {
        let answer = call(Method::POST, &url, Some(&format!("Bearer {jwt}")), None).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
        assert!(answer.body["message"].is_string() && answer.body["documentation_url"].is_string());
    }
    let no_auth = call(Method::POST, &url, None, None).await;
    assert_eq!(no_auth.status, StatusCode::UNAUTHORIZED);

    let unknown = format!("{}/app/installations/12345/access_tokens", gh.url);
    let answer = call(
        Method::POST,
        &unknown,
        Some(&format!("Bearer {}", app_jwt())),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    assert_eq!(gh.token_fetches(), 2, "only successful fetches count");
    assert_eq!(gh.api_calls_excluding_token_fetches(), 0);
    assert_shapes(&gh);
}

#[tokio::test]
async fn installation_tokens_are_checked_on_every_call() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    gh.add_installation(88, "other/repo");
    let other = fetch_token(&gh, 88).await;
    let url = repo_url(&gh, "pulls/1");

    let ok = call(Method::GET, &url, Some(&auth), None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["head"]["sha"], "head1");
    assert_eq!(ok.body["base"]["sha"], "base0");
    assert_eq!(ok.body["number"], 1);
    assert_eq!(ok.body["state"], "open");
    assert_eq!(ok.body["draft"], false);
    let token = auth.trim_start_matches("Bearer ");
    let old_scheme = call(Method::GET, &url, Some(&format!("token {token}")), None).await;
    assert_eq!(old_scheme.status, StatusCode::OK);

    let bad = call(Method::GET, &url, Some("Bearer ghs_notatoken"), None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.body["message"], "Bad credentials");
    let none = call(Method::GET, &url, None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let jwt = call(
        Method::GET,
        &url,
        Some(&format!("Bearer {}", app_jwt())),
        None,
    )
    .await;
    assert_eq!(
        jwt.status,
        StatusCode::UNAUTHORIZED,
        "an app JWT is not an installation token"
    );
    let foreign = call(Method::GET, &url, Some(&format!("Bearer {other}")), None).await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "GitHub hides repositories an installation cannot see"
    );

    let graphql = call(
        Method::POST,
        &gh.graphql_url(),
        Some("Bearer ghs_notatoken"),
        Some(&json!({"query": "{viewer{login}}"})),
    )
    .await;
    assert_eq!(graphql.status, StatusCode::UNAUTHORIZED);

    gh.expire_tokens();
    let expired = call(Method::GET, &url, Some(&auth), None).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.body["message"], "Bad credentials");

    let recorded = gh.requests();
    let first_ok = recorded
        .iter()
        .find(|r| r.path == "/repos/acme/shop/pulls/1" && r.status == 200)
        .expect("the successful call is recorded");
    assert_eq!(first_ok.installation_id, Some(INSTALLATION));
    assert_eq!(first_ok.method, "GET");
    assert_shapes(&gh);
}

#[tokio::test]
async fn unknown_routes_answer_404() {
    let (gh, auth) = installed(start().await).await;
    for path in [
        "/nope",
        "/repos/acme/shop/pulls/1/unknown",
        "/repos/acme/shop/pulls/x",
    ] {
        let answer = call(Method::GET, &format!("{}{path}", gh.url), Some(&auth), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body["message"], "Not Found");
    }
    let missing_pull = call(Method::GET, &repo_url(&gh, "pulls/99"), Some(&auth), None).await;
    assert_eq!(missing_pull.status, StatusCode::NOT_FOUND);
    assert_shapes(&gh);
}

// ---- pull request files ---------------------------------------------------

#[tokio::test]
async fn files_carry_github_patches_statuses_and_counts() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    let answer = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers.get("link").is_none(),
        "one page has no Link header"
    );
    let files = answer.body.as_array().expect("a list");
    let file = |name: &str| {
        files
            .iter()
            .find(|f| f["filename"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };

    let views = file("app/views.py");
    assert_eq!(views["status"], "modified");
    assert_eq!(views["patch"], TWO_HUNK_PATCH);
    assert_eq!(
        (
            views["additions"].as_u64(),
            views["deletions"].as_u64(),
            views["changes"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );

    assert_eq!(file("app/new.py")["status"], "added");
    assert_eq!(
        file("app/new.py")["patch"],
        "@@ -0,0 +1,2 @@\n+x = 1\n+y = 2"
    );
    assert_eq!(file("old.txt")["status"], "removed");
    assert_eq!(
        file("old.txt")["patch"],
        "@@ -1,2 +0,0 @@\n-gone\n-also gone"
    );
    assert!(
        file("logo.gif").get("patch").is_none(),
        "binary files have no patch"
    );
    assert_eq!(file("logo.gif")["additions"], 0);
    let big = file("big.py");
    assert!(big.get("patch").is_none(), "omitted patch");
    assert_eq!(big["additions"], 1, "counts are still reported");
    let renamed = file("src/b.rs");
    assert_eq!(renamed["status"], "renamed");
    assert_eq!(renamed["previous_filename"], "src/a.rs");
    assert!(renamed.get("patch").is_none(), "a pure rename has no patch");
    assert_eq!(
        file("notes.txt")["patch"],
        "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file"
    );
    for f in files {
        for key in ["sha", "blob_url", "raw_url", "contents_url"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
    }
    assert_shapes(&gh);
}

fn many_files(n: usize) -> Vec<FileSpec> {
    (0..n)
        .map(|i| FileSpec::added(&format!("f/{i:04}.txt"), "x\n"))
        .collect()
}

#[tokio::test]
async fn files_paginate_with_github_link_headers() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(
        REPO,
        PullSpec {
            number: 1,
            base_sha: "b".into(),
            head_sha: "h".into(),
            draft: false,
            files: many_files(250),
        },
    );
    let pull = call(Method::GET, &repo_url(&gh, "pulls/1"), Some(&auth), None).await;
    let repo_id = pull.body["base"]["repo"]["id"].as_u64().expect("repo id");
    let link_base = format!("{}/repositories/{repo_id}/pulls/1/files", gh.url);

    let page1 = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files?per_page=100"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(page1.body.as_array().map(Vec::len), Some(100));
    assert_eq!(
        page1.headers["link"],
        format!("<{link_base}?per_page=100&page=2>; rel=\"next\", <{link_base}?per_page=100&page=3>; rel=\"last\"").as_str()
    );
    let page2 = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files?per_page=100&page=2"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        page2.headers["link"],
        format!(
            "<{link_base}?per_page=100&page=1>; rel=\"prev\", <{link_base}?per_page=100&page=3>; rel=\"next\", \
             <{link_base}?per_page=100&page=3>; rel=\"last\", <{link_base}?per_page=100&page=1>; rel=\"first\""
        )
        .as_str()
    );
    // The Link target itself works (it uses /repositories/{id}).
    let page3 = call(
        Method::GET,
        &format!("{link_base}?per_page=100&page=3"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(page3.status, StatusCode::OK);
    assert_eq!(page3.body.as_array().map(Vec::len), Some(50));
    assert_eq!(page3.body[49]["filename"], "f/0249.txt");
    let link3 = page3.headers["link"].to_str().expect("ascii");
    assert!(
        !link3.contains("rel=\"next\"") && link3.contains("rel=\"prev\""),
        "{link3}"
    );

    let default = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        default.body.as_array().map(Vec::len),
        Some(30),
        "per_page defaults to 30"
    );
    assert!(
        default.headers["link"]
            .to_str()
            .expect("ascii")
            .contains("?page=9>; rel=\"last\"")
    );
    let capped = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files?per_page=500"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        capped.body.as_array().map(Vec::len),
        Some(100),
        "per_page is capped at 100"
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn files_stop_at_3000_like_github() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(
        REPO,
        PullSpec {
            number: 1,
            base_sha: "b".into(),
            head_sha: "h".into(),
            draft: false,
            files: many_files(3005),
        },
    );
    let mut next = Some(repo_url(&gh, "pulls/1/files?per_page=100"));
    let (mut names, mut pages) = (Vec::new(), 0);
    while let Some(url) = next.take() {
        let answer = call(Method::GET, &url, Some(&auth), None).await;
        assert_eq!(answer.status, StatusCode::OK);
        pages += 1;
        names.extend(
            answer
                .body
                .as_array()
                .expect("list")
                .iter()
                .map(|f| f["filename"].clone()),
        );
        next = answer.headers.get("link").and_then(|l| {
            l.to_str()
                .ok()?
                .split(", ")
                .find(|p| p.ends_with("rel=\"next\""))
                .map(|p| p[1..p.find('>').expect("<url>")].to_owned())
        });
    }
    assert_eq!((names.len(), pages), (3000, 30));
    let beyond = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/files?per_page=100&page=31"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(beyond.body, json!([]));
    let pull = call(Method::GET, &repo_url(&gh, "pulls/1"), Some(&auth), None).await;
    assert_eq!(
        pull.body["changed_files"], 3005,
        "the pull request still counts every file"
    );
}

#[tokio::test]
async fn contents_serves_files_at_a_ref() {
    let (gh, auth) = installed(start().await).await;
    gh.put_file(REPO, "base0", ".github/hunkscan.yml", "severity: high\n");
    let ok = call(
        Method::GET,
        &repo_url(&gh, "contents/.github/hunkscan.yml?ref=base0"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["encoding"], "base64");
    assert_eq!(ok.body["content"], "c2V2ZXJpdHk6IGhpZ2gK\n");
    let missing = call(
        Method::GET,
        &repo_url(&gh, "contents/.github/hunkscan.yml?ref=other"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_shapes(&gh);
}

// ---- reviews ----------------------------------------------------------------

fn comment(path: &str, line: u64, body: &str) -> Value {
    json!({ "path": path, "line": line, "side": "RIGHT", "body": body })
}

async fn post_review(gh: &Emulator, auth: &str, commit_id: &str, comments: Vec<Value>) -> Answer {
    let body = json!({ "commit_id": commit_id, "body": "hunkscan found problems", "event": "COMMENT", "comments": comments });
    call(
        Method::POST,
        &repo_url(gh, "pulls/1/reviews"),
        Some(auth),
        Some(&body),
    )
    .await
}

#[tokio::test]
async fn a_review_with_one_comment_outside_the_diff_fails_whole() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    let mut range = comment("app/views.py", 5, "range");
    range["start_line"] = json!(3);
    const LINE: &str = "Pull request review thread line must be part of the diff";
    const PATH: &str = "Path could not be resolved";
    const HUNK: &str =
        "Pull request review thread start line must be part of the same hunk as the line.";
    let refused = [
        (
            "a line between hunks",
            comment("app/views.py", 9, "x"),
            LINE,
        ),
        (
            "a line after the last hunk",
            comment("app/views.py", 17, "x"),
            LINE,
        ),
        (
            "a path not in the pull request",
            comment("nope.py", 1, "x"),
            PATH,
        ),
        ("a binary file", comment("logo.gif", 1, "x"), LINE),
        (
            "a file whose patch GitHub omitted",
            comment("big.py", 2, "x"),
            LINE,
        ),
        (
            "a deleted line on RIGHT",
            json!({ "path": "old.txt", "line": 1, "side": "RIGHT", "body": "x" }),
            LINE,
        ),
        (
            "start_line in another hunk",
            json!({ "path": "app/views.py", "start_line": 7, "line": 11, "body": "x" }),
            HUNK,
        ),
        (
            "start_line equal to line",
            json!({ "path": "app/views.py", "start_line": 5, "line": 5, "body": "x" }),
            LINE,
        ),
        (
            "start_line after line",
            json!({ "path": "app/views.py", "start_line": 6, "line": 5, "body": "x" }),
            LINE,
        ),
    ];
    for (what, bad, error) in refused {
        let answer = post_review(
            &gh,
            &auth,
            "head1",
            vec![comment("app/views.py", 5, "fine"), range.clone(), bad],
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            answer.body
        );
        assert_eq!(answer.body["message"], "Unprocessable Entity");
        assert_eq!(answer.body["errors"], json!([error]), "{what}");
        assert!(gh.reviews(REPO, 1).is_empty(), "{what}: nothing is created");
        assert!(
            gh.review_comments(REPO, 1).is_empty(),
            "{what}: nothing is created"
        );
    }
    assert!(
        gh.schema_violations().is_empty(),
        "{:?}",
        gh.schema_violations()
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_valid_review_creates_one_thread_per_comment() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    let comments = vec![
        comment("app/views.py", 5, "on the changed line"),
        json!({ "path": "app/views.py", "start_line": 2, "line": 4, "side": "RIGHT", "body": "a range of context" }),
        json!({ "path": "app/views.py", "line": 5, "side": "LEFT", "body": "on the deleted line" }),
        comment("app/views.py", 13, "on the added line"),
        comment("app/new.py", 2, "new file"),
    ];
    let answer = post_review(&gh, &auth, "head1", comments).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["state"], "COMMENTED");
    assert_eq!(answer.body["commit_id"], "head1");

    let reviews = gh.reviews(REPO, 1);
    assert_eq!(reviews.len(), 1);
    assert_eq!(
        (reviews[0].event.as_str(), reviews[0].comments.len()),
        ("COMMENT", 5)
    );
    let threads = gh.review_comments(REPO, 1);
    let mut ids: Vec<&str> = threads.iter().map(|c| c.thread_id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each comment has its own thread");
    assert!(
        threads.iter().all(|c| c.thread_id.starts_with("PRRT_")
            && c.author == "hunkscan[bot]"
            && !c.resolved)
    );
    assert_eq!((threads[1].start_line, threads[1].line), (Some(2), Some(4)));
    assert_eq!(threads[2].side, "LEFT");

    let listed = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/comments"),
        Some(&auth),
        None,
    )
    .await;
    let listed = listed.body.as_array().expect("list").clone();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0]["user"]["login"], "hunkscan[bot]");
    assert_eq!(listed[0]["user"]["type"], "Bot");
    assert_eq!(listed[0]["pull_request_review_id"], reviews[0].id);
    assert_eq!(
        listed[0]["diff_hunk"],
        "@@ -2,7 +2,7 @@ line1\n line2\n line3\n line4\n-line5\n+changed5"
    );
    assert_eq!(listed[1]["start_line"], 2);
    assert_eq!(listed[1]["start_side"], "RIGHT");
    assert_eq!(listed[3]["line"], 13);
    assert_eq!(listed[3]["original_line"], 13);
    assert!(
        gh.schema_violations().is_empty(),
        "{:?}",
        gh.schema_violations()
    );
    assert_shapes(&gh);
}

#[tokio::test]
async fn a_push_makes_comments_on_changed_lines_outdated() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    let answer = post_review(
        &gh,
        &auth,
        "head1",
        vec![
            comment("app/views.py", 5, "stays"),
            comment("app/views.py", 13, "goes"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    gh.add_review_comment(REPO, 1, "alice", "app/new.py", 1, "a person's comment");

    // The second push drops the added line; line 5 is unchanged.
    let mut pull = sample_pull("head2");
    let base = numbered_lines(1, 20);
    pull.files[0] = FileSpec::modified(
        "app/views.py",
        &base,
        &base.replace("line5\n", "changed5\n"),
    );
    gh.put_pull_request(REPO, pull);

    let comments = gh.review_comments(REPO, 1);
    assert_eq!(comments.len(), 3, "comments survive a push");
    assert_eq!(
        (
            comments[0].line,
            comments[0].outdated,
            comments[0].commit_id.as_str()
        ),
        (Some(5), false, "head2")
    );
    assert_eq!((comments[1].line, comments[1].outdated), (None, true));
    assert_eq!(comments[1].original_line, 13);
    assert_eq!(comments[2].author, "alice");

    let listed = call(
        Method::GET,
        &repo_url(&gh, "pulls/1/comments"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        listed.body[1]["line"],
        Value::Null,
        "outdated comments have line null in REST"
    );
    assert_eq!(listed.body[1]["original_line"], 13);
    assert_eq!(listed.body[2]["user"]["login"], "alice");
    assert_eq!(listed.body[2]["user"]["type"], "User");

    let outdated_query = THREADS.replace("isResolved", "isResolved isOutdated");
    let vars = json!({ "owner": "acme", "name": "shop", "number": 1, "cursor": null });
    let threads = graphql(&gh, &auth, &outdated_query, vars).await;
    let nodes = &threads["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"];
    let flags: Vec<&Value> = (0..3).map(|i| &nodes[i]["isOutdated"]).collect();
    assert_eq!(flags, [&json!(false), &json!(true), &json!(false)]);

    // A review on the old commit is still checked against that commit's diff.
    let late = post_review(
        &gh,
        &auth,
        "head1",
        vec![comment("app/views.py", 13, "late")],
    )
    .await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.body);
    assert_eq!(
        gh.review_comments(REPO, 1)[3].line,
        None,
        "and is outdated at once"
    );
    let unknown = post_review(&gh, &auth, "nosuchsha", vec![]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_shapes(&gh);
}

// ---- check runs -------------------------------------------------------------

fn annotations(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "path": "app/views.py", "start_line": i + 1, "end_line": i + 1, "annotation_level": "warning", "message": format!("finding {i}") }))
        .collect()
}

async fn create_check_run(gh: &Emulator, auth: &str) -> u64 {
    let body = json!({ "name": "hunkscan", "head_sha": "head1", "status": "in_progress", "external_id": "job-1" });
    let answer = call(
        Method::POST,
        &repo_url(gh, "check-runs"),
        Some(auth),
        Some(&body),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["status"], "in_progress");
    answer.body["id"].as_u64().expect("id")
}

async fn patch_output(gh: &Emulator, auth: &str, id: u64, output: Value) -> Answer {
    let url = repo_url(gh, &format!("check-runs/{id}"));
    call(
        Method::PATCH,
        &url,
        Some(auth),
        Some(&json!({ "output": output })),
    )
    .await
}

/// GitHub's check-run limits hold with and without the OpenAPI description
/// (the emulator enforces them itself).
async fn check_run_limits(gh: Emulator) {
    let (gh, auth) = installed(gh).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    let id = create_check_run(&gh, &auth).await;
    let output = |summary: String, n: usize| json!({ "title": "hunkscan", "summary": summary, "annotations": annotations(n) });

    let too_many = patch_output(&gh, &auth, id, output("s".into(), 51)).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        too_many.body["message"]
            .as_str()
            .expect("message")
            .starts_with("Invalid request.")
    );
    assert!(
        gh.check_runs(REPO)[0].annotations.is_empty(),
        "a refused PATCH changes nothing"
    );

    for _ in 0..2 {
        let fifty = patch_output(&gh, &auth, id, output("s".into(), 50)).await;
        assert_eq!(fifty.status, StatusCode::OK, "{}", fifty.body);
    }
    let run = &gh.check_runs(REPO)[0];
    assert_eq!(
        run.annotations.len(),
        100,
        "annotations accumulate across PATCHes"
    );
    assert_eq!(run.output.summary.as_deref(), Some("s"));

    let long = patch_output(&gh, &auth, id, output("x".repeat(65_536), 0)).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut text = output("s".into(), 0);
    text["text"] = json!("x".repeat(65_536));
    assert_eq!(
        patch_output(&gh, &auth, id, text).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let limit = patch_output(&gh, &auth, id, output("é".repeat(65_535), 0)).await;
    assert_eq!(limit.status, StatusCode::OK, "the limit counts characters");

    let mut bad_annotations = vec![];
    let mut titled = annotations(1);
    titled[0]["title"] = json!("t".repeat(256));
    bad_annotations.push(("a 256-character title", titled));
    let mut columns = annotations(1);
    columns[0]["end_line"] = json!(3);
    columns[0]["start_column"] = json!(1);
    columns[0]["end_column"] = json!(4);
    bad_annotations.push(("columns over several lines", columns));
    let mut pathless = annotations(1);
    pathless[0].as_object_mut().expect("object").remove("path");
    bad_annotations.push(("no path", pathless));
    let mut lineless = annotations(1);
    lineless[0]
        .as_object_mut()
        .expect("object")
        .remove("end_line");
    bad_annotations.push(("no end_line", lineless));
    for (what, items) in bad_annotations {
        let answer = patch_output(
            &gh,
            &auth,
            id,
            json!({ "title": "t", "summary": "s", "annotations": items }),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            answer.body
        );
    }
    let mut one_line_columns = annotations(1);
    one_line_columns[0]["start_column"] = json!(1);
    one_line_columns[0]["end_column"] = json!(4);
    one_line_columns[0]["title"] = json!("t".repeat(255));
    let ok = patch_output(
        &gh,
        &auth,
        id,
        json!({ "title": "t", "summary": "s", "annotations": one_line_columns }),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(gh.check_runs(REPO)[0].annotations.len(), 101);

    let url = repo_url(&gh, &format!("check-runs/{id}"));
    let no_conclusion = call(
        Method::PATCH,
        &url,
        Some(&auth),
        Some(&json!({ "status": "completed" })),
    )
    .await;
    assert_eq!(no_conclusion.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(gh.check_runs(REPO)[0].status, "in_progress");
    let done = call(
        Method::PATCH,
        &url,
        Some(&auth),
        Some(&json!({ "conclusion": "neutral" })),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let run = &gh.check_runs(REPO)[0];
    assert_eq!(
        (run.status.as_str(), run.conclusion.as_deref()),
        ("completed", Some("neutral"))
    );
    assert!(run.completed_at.is_some());
    assert_eq!(done.body["output"]["annotations_count"], 101);
    assert_eq!(run.external_id.as_deref(), Some("job-1"));

    let create_too_many =
        json!({ "name": "hunkscan", "head_sha": "head1", "output": output("s".into(), 51) });
    let answer = call(
        Method::POST,
        &repo_url(&gh, "check-runs"),
        Some(&auth),
        Some(&create_too_many),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        gh.check_runs(REPO).len(),
        1,
        "a refused create creates nothing"
    );
    let bogus = call(
        Method::PATCH,
        &url,
        Some(&auth),
        Some(&json!({ "status": "bogus" })),
    )
    .await;
    assert_eq!(bogus.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_shapes(&gh);
}

#[tokio::test]
async fn check_run_limits_with_openapi() {
    check_run_limits(start().await).await;
}

#[tokio::test]
async fn check_run_limits_without_openapi() {
    let gh = start_without_openapi().await;
    assert!(!gh.openapi_available());
    check_run_limits(gh).await;
}

#[tokio::test]
async fn an_openapi_invalid_body_is_refused_and_recorded() {
    let (gh, auth) = installed(start().await).await;
    if !gh.openapi_available() {
        eprintln!(
            "skipped: {} is absent, so there is nothing to validate against",
            crate::support::github_emulator::openapi::spec_path().display()
        );
        return;
    }
    let id = create_check_run(&gh, &auth).await;
    assert!(gh.schema_violations().is_empty());
    let url = repo_url(&gh, &format!("check-runs/{id}"));
    let answer = call(
        Method::PATCH,
        &url,
        Some(&auth),
        Some(&json!({ "status": "bogus" })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body["message"]
            .as_str()
            .expect("message")
            .starts_with("Invalid request.\n\n")
    );
    assert_eq!(
        answer.body["documentation_url"],
        "https://docs.github.com/rest/checks/runs#update-a-check-run"
    );
    let violations = gh.schema_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0]
            .starts_with("checks/update (PATCH /repos/{owner}/{repo}/check-runs/{check_run_id})"),
        "{}",
        violations[0]
    );

    // A review comment with a wrongly typed line fails the schema too.
    gh.put_pull_request(REPO, sample_pull("head1"));
    let bad_review = json!({ "event": "COMMENT", "body": "b", "comments": [{ "path": "app/views.py", "line": "5", "body": "x" }] });
    let answer = call(
        Method::POST,
        &repo_url(&gh, "pulls/1/reviews"),
        Some(&auth),
        Some(&bad_review),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(gh.schema_violations()[1].starts_with("pulls/create-review"));
    assert_shapes(&gh);
}

// ---- faults -----------------------------------------------------------------

#[tokio::test]
async fn a_status_fault_hits_the_next_matching_requests_only() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    gh.inject(Fault::Status {
        method: "GET",
        path_contains: "/pulls/1/files",
        status: 502,
        times: 2,
    });
    let url = repo_url(&gh, "pulls/1/files");
    let other = call(Method::GET, &repo_url(&gh, "pulls/1"), Some(&auth), None).await;
    assert_eq!(other.status, StatusCode::OK, "another path is not hit");
    let statuses = [
        call(Method::GET, &url, Some(&auth), None).await.status,
        call(Method::GET, &url, Some(&auth), None).await.status,
        call(Method::GET, &url, Some(&auth), None).await.status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_GATEWAY,
            StatusCode::BAD_GATEWAY,
            StatusCode::OK
        ]
    );
    // Faults come before auth: even a bad token sees the fault.
    gh.inject(Fault::Status {
        method: "*",
        path_contains: "/reviews",
        status: 500,
        times: 1,
    });
    let answer = post_review(&gh, "Bearer ghs_bad", "head1", vec![]).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let recorded: Vec<u16> = gh.requests().iter().skip(1).map(|r| r.status).collect();
    assert_eq!(recorded, [200, 502, 502, 200, 500]);
}

#[tokio::test]
async fn a_timeout_fault_holds_the_request_and_applies_nothing() {
    let (gh, auth) = installed(start().await).await;
    gh.inject(Fault::Timeout {
        method: "POST",
        path_contains: "/check-runs",
        delay: Duration::from_millis(400),
        times: 1,
    });
    let body = json!({ "name": "hunkscan", "head_sha": "head1" });
    let error = Client::new()
        .post(repo_url(&gh, "check-runs"))
        .header("authorization", &auth)
        .json(&body)
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .expect_err("the client gives up first");
    assert!(error.is_timeout(), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        gh.check_runs(REPO).is_empty(),
        "a timed-out write is not applied"
    );
    let retry = call(
        Method::POST,
        &repo_url(&gh, "check-runs"),
        Some(&auth),
        Some(&body),
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(gh.check_runs(REPO).len(), 1);

    gh.inject(Fault::Timeout {
        method: "GET",
        path_contains: "/check-runs/",
        delay: Duration::from_millis(50),
        times: 1,
    });
    let id = retry.body["id"].as_u64().expect("id");
    let slow = call(
        Method::GET,
        &repo_url(&gh, &format!("check-runs/{id}")),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        slow.status,
        StatusCode::GATEWAY_TIMEOUT,
        "a patient client sees GitHub's 504"
    );
}

#[tokio::test]
async fn a_rate_limit_fault_looks_like_a_secondary_rate_limit() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    gh.inject(Fault::RateLimit {
        method: "POST",
        path_contains: "/reviews",
        retry_after_secs: 7,
        times: 1,
    });
    let limited = post_review(&gh, &auth, "head1", vec![comment("app/views.py", 5, "x")]).await;
    assert_eq!(limited.status, StatusCode::FORBIDDEN);
    assert_eq!(limited.headers["retry-after"], "7");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    let reset: i64 = limited.headers["x-ratelimit-reset"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("epoch seconds");
    assert!((reset - now() - 7).abs() <= 2);
    assert!(
        limited.body["message"]
            .as_str()
            .expect("message")
            .contains("You have exceeded a secondary rate limit")
    );
    assert!(gh.reviews(REPO, 1).is_empty());
    let after = post_review(&gh, &auth, "head1", vec![comment("app/views.py", 5, "x")]).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.headers["x-ratelimit-remaining"], "4999");
}

// ---- GraphQL ----------------------------------------------------------------

async fn graphql(gh: &Emulator, auth: &str, query: &str, variables: Value) -> Value {
    let answer = call(
        Method::POST,
        &gh.graphql_url(),
        Some(auth),
        Some(&json!({ "query": query, "variables": variables })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

fn blob_query(n: usize) -> String {
    let params: String = (0..n).map(|i| format!(",$e{i}:String!")).collect();
    let fields: String = (0..n)
        .map(|i| format!(" f{i}:object(expression:$e{i}){{...on Blob{{byteSize isBinary text}}}}"))
        .collect();
    format!(
        "query($owner:String!,$name:String!{params}){{repository(owner:$owner,name:$name){{{fields}}}}}"
    )
}

#[tokio::test]
async fn graphql_reads_blobs_by_sha_and_path() {
    let (gh, auth) = installed(start().await).await;
    gh.put_pull_request(REPO, sample_pull("head1"));
    gh.put_file(REPO, "base0", ".github/hunkscan.yml", "fail_on: high\n");
    let variables = json!({
        "owner": "acme", "name": "shop",
        "e0": "head1:app/new.py", "e1": "head1:missing.py", "e2": "head1:logo.gif",
        "e3": "base0:.github/hunkscan.yml", "e4": "base0:src/a.rs"
    });
    let answer = graphql(&gh, &auth, &blob_query(5), variables).await;
    let repo = &answer["data"]["repository"];
    assert_eq!(
        repo["f0"],
        json!({ "byteSize": 12, "isBinary": false, "text": "x = 1\ny = 2\n" })
    );
    assert_eq!(repo["f1"], Value::Null);
    assert_eq!(repo["f2"]["isBinary"], true);
    assert_eq!(repo["f2"]["text"], Value::Null);
    assert_eq!(repo["f3"]["text"], "fail_on: high\n");
    assert_eq!(
        repo["f4"]["text"], "fn a() {}\n",
        "a renamed file's base is under its old path"
    );
    assert!(answer.get("errors").is_none());

    let mut many = json!({ "owner": "acme", "name": "shop" });
    for i in 0..251 {
        many[format!("e{i}")] = json!("head1:app/new.py");
    }
    let too_big = graphql(&gh, &auth, &blob_query(251), many.clone()).await;
    assert!(
        too_big["errors"][0]["message"].is_string() && too_big.get("data").is_none(),
        "{too_big}"
    );
    many.as_object_mut().expect("object").remove("e250");
    let at_limit = graphql(&gh, &auth, &blob_query(250), many).await;
    assert_eq!(at_limit["data"]["repository"]["f249"]["byteSize"], 12);

    let unknown_repo = graphql(
        &gh,
        &auth,
        &blob_query(1),
        json!({ "owner": "acme", "name": "other", "e0": "h:x" }),
    )
    .await;
    assert_eq!(unknown_repo["data"]["repository"], Value::Null);
    assert_eq!(unknown_repo["errors"][0]["type"], "NOT_FOUND");
    let other = graphql(&gh, &auth, "query{viewer{login}}", json!({})).await;
    assert!(other["errors"][0]["message"].is_string());
}

const THREADS: &str = "query($owner:String!,$name:String!,$number:Int!,$cursor:String){repository(owner:$owner,name:$name){pullRequest(number:$number){reviewThreads(first:100,after:$cursor){pageInfo{hasNextPage endCursor} nodes{id isResolved comments(first:1){nodes{databaseId}}}}}}}";

#[tokio::test]
async fn graphql_lists_threads_by_cursor_and_resolves_them() {
    let (gh, auth) = installed(start().await).await;
    let head: String = (1..=150).map(|i| format!("finding{i}\n")).collect();
    gh.put_pull_request(
        REPO,
        PullSpec {
            number: 1,
            base_sha: "b".into(),
            head_sha: "h".into(),
            draft: true,
            files: vec![FileSpec::added("many.py", &head)],
        },
    );
    let comments = (1..=150).map(|l| comment("many.py", l, "x")).collect();
    assert_eq!(
        post_review(&gh, &auth, "h", comments).await.status,
        StatusCode::OK
    );

    let vars =
        |cursor: Value| json!({ "owner": "acme", "name": "shop", "number": 1, "cursor": cursor });
    let page1 = graphql(&gh, &auth, THREADS, vars(Value::Null)).await;
    let threads = &page1["data"]["repository"]["pullRequest"]["reviewThreads"];
    assert_eq!(threads["nodes"].as_array().map(Vec::len), Some(100));
    assert_eq!(threads["pageInfo"]["hasNextPage"], true);
    let cursor = threads["pageInfo"]["endCursor"].clone();
    let page2 = graphql(&gh, &auth, THREADS, vars(cursor)).await;
    let threads2 = &page2["data"]["repository"]["pullRequest"]["reviewThreads"];
    assert_eq!(threads2["nodes"].as_array().map(Vec::len), Some(50));
    assert_eq!(threads2["pageInfo"]["hasNextPage"], false);

    let rest = gh.review_comments(REPO, 1);
    let first = &threads["nodes"][0];
    assert_eq!(first["id"], rest[0].thread_id.as_str());
    assert_eq!(first["isResolved"], false);
    assert_eq!(first["comments"]["nodes"][0]["databaseId"], rest[0].id);
    assert_eq!(threads2["nodes"][49]["id"], rest[149].thread_id.as_str());

    let bad_cursor = graphql(&gh, &auth, THREADS, vars(json!("bm90IGEgY3Vyc29y"))).await;
    assert!(bad_cursor["errors"][0]["message"].is_string());
    let too_many = graphql(
        &gh,
        &auth,
        &THREADS.replace("first:100", "first:101"),
        vars(Value::Null),
    )
    .await;
    assert!(
        too_many["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("exceeds the `first` limit of 100")
    );

    let resolve = "mutation($t0:ID!,$t1:ID!){r0:resolveReviewThread(input:{threadId:$t0}){thread{id isResolved}} r1:resolveReviewThread(input:{threadId:$t1}){thread{id isResolved}}}";
    let answer = graphql(
        &gh,
        &auth,
        resolve,
        json!({ "t0": rest[3].thread_id, "t1": "PRRT_nope" }),
    )
    .await;
    assert_eq!(
        answer["data"]["r0"],
        json!({ "thread": { "id": rest[3].thread_id, "isResolved": true } })
    );
    assert_eq!(answer["data"]["r1"], Value::Null);
    assert_eq!(answer["errors"][0]["path"], json!(["r1"]));
    let after = gh.review_comments(REPO, 1);
    assert_eq!(after.iter().filter(|c| c.resolved).count(), 1);
    assert!(after[3].resolved);
    let relisted = graphql(&gh, &auth, THREADS, vars(Value::Null)).await;
    assert_eq!(
        relisted["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"][3]["isResolved"],
        true
    );

    // Another installation cannot resolve this repository's threads.
    gh.add_installation(88, "other/repo");
    let other = format!("Bearer {}", fetch_token(&gh, 88).await);
    let foreign = graphql(
        &gh,
        &other,
        resolve,
        json!({ "t0": rest[4].thread_id, "t1": rest[5].thread_id }),
    )
    .await;
    assert_eq!(foreign["data"]["r0"], Value::Null);
    assert!(!gh.review_comments(REPO, 1)[4].resolved);
}
