//! First run: `hunkscan serve` without credentials registers the GitHub App
//! through the manifest flow against the GitHub emulator, keeps the
//! credentials and becomes the app without a restart; the operator's status
//! page lists deliveries and jobs from the store; and both pages in a real
//! headless Chromium (skipped loudly where it is not installed).

use crate::support::bot::{
    APP_ID, Harness, INSTALLATION, PUBLIC_KEY, REPO, WAIT, pipeline, test_policy,
};
use crate::support::github_emulator::{Emulator, Fault, FileSpec, PullSpec};
use hunkscan::app::webhook::sign;
use hunkscan::app::{self, PipelineFor, SetupRunning};
use hunkscan::config::settings::SetupSettings;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "status token for tests";

/// A server in setup mode against an emulator, in a directory of its own.
struct SetupBot {
    github: Emulator,
    running: SetupRunning,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl SetupBot {
    async fn start(extra: &[(&str, &str)]) -> SetupBot {
        let github = Emulator::start(APP_ID, PUBLIC_KEY).await;
        github.add_installation(INSTALLATION, REPO);
        let dir = tempfile::tempdir().expect("a directory for the bot");
        let mut env: HashMap<String, String> = HashMap::from([
            ("GITHUB_API_URL".to_owned(), github.url.clone()),
            (
                "DATABASE_URL".to_owned(),
                format!("sqlite://{}", dir.path().join("jobs.db").display()),
            ),
            (
                "HUNKSCAN_ENV_FILE".to_owned(),
                dir.path().join(".env").display().to_string(),
            ),
            ("HUNKSCAN_RETRY_BASE_MS".to_owned(), "20".to_owned()),
        ]);
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let settings =
            SetupSettings::from_lookup(|name| env.get(name).cloned()).expect("setup settings");
        let pipeline_for: PipelineFor = Arc::new(|_| Ok(pipeline()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running = app::start_setup(
            &settings,
            Arc::new(move |name: &str| env.get(name).cloned()),
            pipeline_for,
            test_policy(),
            listener,
            std::future::pending(),
        )
        .await
        .expect("setup mode starts");
        SetupBot {
            github,
            running,
            dir,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env")
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Posts the setup form; the registration page and the cookie it sets.
    async fn choose(&self, fields: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let response = self
            .client
            .post(format!("{}/setup/manifest", self.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
            .await
            .expect("POST /setup/manifest");
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        (status, response.text().await.unwrap_or_default(), cookie)
    }

    /// Presses "Register on GitHub" as a browser would: posts the page's
    /// manifest to the page's action; answers GitHub's redirect target.
    async fn register(&self, page: &str) -> String {
        let action = unescape(attribute(page, "action=\"", 0).expect("a form action"));
        let manifest =
            unescape(attribute(page, "name=\"manifest\" value=\"", 0).expect("a manifest"));
        let response = self
            .client
            .post(&action)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("manifest", &manifest)]))
            .send()
            .await
            .expect("POST to GitHub's page");
        assert_eq!(
            response.status().as_u16(),
            302,
            "GitHub's page redirects back"
        );
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a Location")
            .to_owned()
    }

    async fn deliver(&self, secret: &str, event: &str, delivery: &str, body: &Value) -> u16 {
        let body = serde_json::to_vec(body).expect("json");
        self.client
            .post(format!("{}/api/github/webhooks", self.base()))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", sign(secret.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .expect("delivery sent")
            .status()
            .as_u16()
    }
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `nth` attribute value after `prefix` in `page`.
fn attribute<'a>(page: &'a str, prefix: &str, nth: usize) -> Option<&'a str> {
    let start = page.match_indices(prefix).nth(nth)?.0 + prefix.len();
    let end = page[start..].find('"')?;
    Some(&page[start..start + end])
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn env_values(path: &Path) -> HashMap<String, String> {
    dotenvy::from_path_iter(path)
        .expect("the env file reads")
        .collect::<Result<_, _>>()
        .expect("every line parses")
}

fn organization_form(webhook: &str) -> Vec<(&'static str, String)> {
    vec![
        ("account", "organization".to_owned()),
        ("org", "acme".to_owned()),
        ("webhook_url", webhook.to_owned()),
        ("name", "hunkscan-acme".to_owned()),
        ("keep", "env".to_owned()),
    ]
}

fn borrowed<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_registers_the_app_keeps_its_credentials_and_becomes_it() {
    let bot = SetupBot::start(&[]).await;
    let base = bot.base();

    // Not set up: webhooks wait, the page asks.
    assert_eq!(
        bot.deliver("anything", "ping", "d-0", &json!({})).await,
        503
    );
    let (status, body) = bot.get(&format!("{base}/healthz"), None).await;
    assert_eq!(
        status, 200,
        "health checks keep the setup page reachable: {body}"
    );
    let (status, page) = bot.get(&format!("{base}/"), None).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("value=\"{base}/api/github/webhooks\"")),
        "the webhook URL is prefilled from the request's host: {page}"
    );
    let (status, page, _) = bot
        .choose(&[
            ("account", "organization"),
            ("org", "not an org!"),
            ("webhook_url", "https://x.example/h"),
            ("name", "h"),
        ])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("the organisation must be"), "{page}");

    // The registration page: the manifest from app.yml with the choices.
    let webhook = "https://bot.example.com/api/github/webhooks";
    let fields = organization_form(webhook);
    let (status, page, cookie) = bot.choose(&borrowed(&fields)).await;
    assert_eq!(status, 200, "{page}");
    let cookie = cookie.expect("the page binds the flow to the browser");
    let first = bot.register(&page).await;
    let posted = bot.github.manifests();
    assert_eq!(posted.len(), 1);
    let manifest = &posted[0].manifest;
    assert_eq!(posted[0].organization.as_deref(), Some("acme"));
    assert_eq!(manifest["name"], "hunkscan-acme");
    assert_eq!(manifest["hook_attributes"]["url"], webhook);
    assert_eq!(manifest["hook_attributes"]["active"], true);
    assert_eq!(manifest["redirect_url"], format!("{base}/setup/callback"));
    assert_eq!(manifest["public"], false);
    assert_eq!(manifest["default_permissions"]["pull_requests"], "write");
    assert_eq!(manifest["default_permissions"]["checks"], "write");
    assert!(
        manifest["default_events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e == "merge_group"))
    );
    let state = posted[0].state.clone().expect("a state");
    assert!(state.len() >= 32, "an unguessable state: {state}");
    assert!(
        first.starts_with(&format!("{base}/setup/callback?code=")),
        "{first}"
    );
    assert!(first.ends_with(&format!("&state={state}")), "{first}");

    // A wrong state, or the right one from another browser, is refused and
    // spends nothing.
    let wrong = first.replace(&state, "0123456789abcdef0123456789abcdef");
    let (status, page) = bot.get(&wrong, Some(&cookie)).await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = bot.get(&first, Some("hunkscan_setup=someone-else")).await;
    assert_eq!(status, 403, "{page}");
    let (status, _) = bot.get(&first, None).await;
    assert_eq!(status, 403);
    assert!(
        !bot.github.manifests()[0].converted,
        "no code exchanged yet"
    );

    // The exchange fails once: the state is spent, and its link refused after.
    bot.github.inject(Fault::Status {
        method: "POST",
        path_contains: "/app-manifests/",
        status: 500,
        times: 1,
    });
    let (status, page) = bot.get(&first, Some(&cookie)).await;
    assert_eq!(status, 502, "{page}");
    let (status, page) = bot.get(&first, Some(&cookie)).await;
    assert_eq!(status, 400, "a used state is refused: {page}");
    assert!(page.contains("used already"), "{page}");
    let exchanges = || {
        bot.github
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/app-manifests/"))
            .count()
    };
    assert_eq!(exchanges(), 1, "a spent state never reaches GitHub again");

    // Start again: registered, written, running.
    let (_, page, cookie) = bot.choose(&borrowed(&fields)).await;
    let cookie = cookie.expect("a cookie");
    let callback = bot.register(&page).await;
    let (status, page) = bot.get(&callback, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(
            "id=\"install-link\" href=\"https://github.com/apps/hunkscan-acme/installations/new\""
        ),
        "{page}"
    );
    assert!(page.contains("no restart needed"), "{page}");
    let posted = bot.github.manifests();
    assert!(posted[1].converted);
    assert_eq!(exchanges(), 2, "each code exchanged once");
    assert!(
        !page.contains("BEGIN RSA PRIVATE KEY"),
        "written, not shown"
    );

    let values = env_values(&bot.env_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(bot.env_file())
            .expect("the env file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only this user reads it");
    }
    assert_eq!(values["GITHUB_APP_ID"], APP_ID.to_string());
    let secret = values["GITHUB_WEBHOOK_SECRET"].clone();
    assert_eq!(
        secret,
        format!("webhook-secret-{}-from-the-emulator", posted[1].code)
    );
    assert!(values["GITHUB_PRIVATE_KEY"].contains("BEGIN RSA PRIVATE KEY"));
    assert!(
        !values.contains_key("GITHUB_API_URL"),
        "it came from the environment"
    );

    // The link is spent, and the server is the app now.
    let (status, _) = bot.get(&callback, Some(&cookie)).await;
    assert_eq!(status, 409);
    assert_eq!(bot.choose(&borrowed(&fields)).await.0, 409);
    assert_eq!(exchanges(), 2);
    let (status, body) = bot.get(&format!("{base}/healthz"), None).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(
        bot.deliver("not the secret", "ping", "d-1", &json!({}))
            .await,
        401
    );
    assert_eq!(
        bot.deliver(&secret, "ping", "d-2", &json!({ "zen": "hi" }))
            .await,
        200
    );
    bot.github.put_pull_request(
        REPO,
        PullSpec {
            number: 3,
            base_sha: "base0003".into(),
            head_sha: "head0003".into(),
            draft: false,
            files: vec![FileSpec::added("run.py", "import os\nos.system(input())\n")],
        },
    );
    let event = Harness::pull_request_event("opened", 3, "base0003", "head0003", false);
    assert_eq!(
        bot.deliver(&secret, "pull_request", "d-3", &event).await,
        202
    );
    let check = bot
        .github
        .wait_for("the registered app's check run", WAIT, |gh| {
            gh.check_runs(REPO)
                .into_iter()
                .find(|c| c.head_sha == "head0003" && c.status == "completed")
        })
        .await;
    assert_eq!(check.name, "hunkscan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_env_file_is_kept_and_the_credentials_shown_once() {
    let bot = SetupBot::start(&[]).await;
    std::fs::write(bot.env_file(), "KEEP=me\n").expect("an env file");
    let (_, page) = bot.get(&format!("{}/", bot.base()), None).await;
    assert!(page.contains("exists already"), "{page}");
    let mut fields = organization_form("https://bot.example.com/api/github/webhooks");
    fields[0].1 = "personal".to_owned();
    let (status, page, cookie) = bot.choose(&borrowed(&fields)).await;
    assert_eq!(status, 200, "{page}");
    let callback = bot.register(&page).await;
    assert_eq!(
        bot.github.manifests()[0].organization,
        None,
        "the personal page"
    );
    let (status, page) = bot.get(&callback, cookie.as_deref()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        std::fs::read_to_string(bot.env_file()).expect("kept"),
        "KEEP=me\n"
    );
    let code = &bot.github.manifests()[0].code;
    assert!(page.contains("<pre id=\"credentials\">"), "{page}");
    assert!(
        page.contains(&format!(
            "GITHUB_WEBHOOK_SECRET=&quot;webhook-secret-{code}-from-the-emulator&quot;"
        )),
        "{page}"
    );
    assert!(page.contains("BEGIN RSA PRIVATE KEY"), "shown, once");
    let (status, again) = bot.get(&callback, cookie.as_deref()).await;
    assert_eq!(status, 409);
    assert!(!again.contains("BEGIN RSA PRIVATE KEY"), "never twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_lists_deliveries_and_jobs_from_the_store() {
    let off = Harness::start().await;
    let response = off.client.get(off.url("/")).send().await.expect("GET /");
    assert_eq!(response.status().as_u16(), 404, "off without a token");

    let h = Harness::start_configured(
        test_policy(),
        true,
        &[("HUNKSCAN_STATUS_TOKEN", TOKEN)],
        std::future::pending(),
    )
    .await;
    let response = h.client.get(h.url("/")).send().await.expect("GET /");
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let secret = "ghp_R8kZ2nQ7wLx4Vb9TfJ3mHs6Yc1Pd5Ge0Ua2K";
    h.open(PullSpec {
        number: 5,
        base_sha: "base0005".into(),
        head_sha: "head0005".into(),
        draft: false,
        files: vec![FileSpec::added(
            "settings.py",
            &format!("TOKEN = \"{secret}\"\n"),
        )],
    })
    .await;
    h.completed_check("head0005").await;
    let mut page = String::new();
    for _ in 0..100 {
        page = h
            .client
            .get(h.url("/"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("the page");
        if page.contains(">completed<") && page.contains(">accepted<") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivery = page
        .split("<tr>")
        .find(|row| row.contains("<code>delivery-0</code>"))
        .unwrap_or_else(|| panic!("the delivery is listed: {page}"));
    assert!(
        delivery.contains("<td>pull_request</td>") && delivery.contains("<td>accepted</td>"),
        "{delivery}"
    );
    let job = page
        .split("<tr>")
        .find(|row| row.contains("acme/shop#5"))
        .unwrap_or_else(|| panic!("the job is listed: {page}"));
    assert!(
        job.contains("<td>completed</td>") && job.contains("<code>head0005</code>"),
        "{job}"
    );
    assert!(
        page.contains("href=\"https://github.com/apps/hunkscan/installations/new\""),
        "{page}"
    );
    assert!(page.contains(&format!("hunkscan {}", env!("CARGO_PKG_VERSION"))));
    assert!(page.contains("id=\"store-health\">answers<"), "{page}");
    assert!(
        !page.contains(secret) && !page.contains("TOKEN ="),
        "no secrets, no code"
    );
}

/// Debian's chromium through chromedriver: the setup flow pressed by a real
/// browser, then the status page; screenshots under target/.
mod browser {
    use super::*;
    use fantoccini::{ClientBuilder, Locator};

    fn find(names: &[&str], variable: &str) -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(variable) {
            return Some(PathBuf::from(path));
        }
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|path| path.is_file())
    }

    struct Driver(std::process::Child);

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn screenshots() -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        dir
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_browser_registers_the_app_and_opens_the_status_page() {
        let (Some(chromium), Some(chromedriver)) = (
            find(
                &["chromium", "chromium-browser", "google-chrome"],
                "HUNKSCAN_CHROMIUM",
            ),
            find(&["chromedriver"], "HUNKSCAN_CHROMEDRIVER"),
        ) else {
            let message = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver): the browser test is SKIPPED";
            assert!(
                std::env::var_os("HUNKSCAN_REQUIRE_BROWSER").is_none(),
                "HUNKSCAN_REQUIRE_BROWSER is set, but {message}"
            );
            eprintln!("\n!!! {message} !!!\n");
            return;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let _driver = Driver(
            std::process::Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let capabilities: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1100,1400"]
            }
        }))
        .expect("capabilities");
        let mut connected = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    connected = Some(client);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let browser = connected.expect("a chromium session through chromedriver");
        let result = run(&browser).await;
        let _ = browser.close().await;
        result.expect("the browser flow");
    }

    async fn run(browser: &fantoccini::Client) -> Result<(), String> {
        let fail = |what: &str| {
            let what = what.to_owned();
            move |error: fantoccini::error::CmdError| format!("{what}: {error}")
        };
        let bot = SetupBot::start(&[("HUNKSCAN_STATUS_TOKEN", TOKEN)]).await;
        let shots = screenshots();
        // The token as basic auth's password, in the address: the browser
        // keeps it for the origin's later requests.
        let authed = format!("http://ops:{}@{}/", encode(TOKEN), bot.running.addr);
        browser
            .goto(&authed)
            .await
            .map_err(fail("open the setup page"))?;
        browser
            .find(Locator::Id("account-org"))
            .await
            .map_err(fail("account"))?
            .click()
            .await
            .map_err(fail("click"))?;
        browser
            .find(Locator::Id("org"))
            .await
            .map_err(fail("org"))?
            .send_keys("acme")
            .await
            .map_err(fail("type"))?;
        let webhook = browser
            .find(Locator::Id("webhook_url"))
            .await
            .map_err(fail("webhook"))?;
        webhook.clear().await.map_err(fail("clear"))?;
        webhook
            .send_keys("https://bot.example.com/api/github/webhooks")
            .await
            .map_err(fail("type"))?;
        std::fs::write(
            shots.join("setup.png"),
            browser.screenshot().await.map_err(fail("screenshot"))?,
        )
        .map_err(|e| e.to_string())?;
        browser
            .find(Locator::Id("continue"))
            .await
            .map_err(fail("continue"))?
            .click()
            .await
            .map_err(fail("click"))?;
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id("register"))
            .await
            .map_err(fail("the registration page"))?
            .click()
            .await
            .map_err(fail("register"))?;
        let link = browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id("install-link"))
            .await
            .map_err(fail("the installed page"))?;
        let href = link
            .attr("href")
            .await
            .map_err(fail("href"))?
            .unwrap_or_default();
        if href != "https://github.com/apps/hunkscan/installations/new" {
            return Err(format!("install link {href}"));
        }
        let url = browser.current_url().await.map_err(fail("url"))?;
        if url.path() != "/setup/callback" {
            return Err(format!("ended at {url}"));
        }
        std::fs::write(
            shots.join("setup-installed.png"),
            browser.screenshot().await.map_err(fail("screenshot"))?,
        )
        .map_err(|e| e.to_string())?;
        let posted = bot.github.manifests();
        if posted.len() != 1 || !posted[0].converted {
            return Err(format!("one manifest, exchanged: {posted:?}"));
        }

        // The app runs: a delivery signed with the new secret shows up.
        let secret = env_values(&bot.env_file())["GITHUB_WEBHOOK_SECRET"].clone();
        if bot
            .deliver(&secret, "ping", "browser-ping", &json!({ "zen": "hi" }))
            .await
            != 200
        {
            return Err("the new secret's ping was not answered 200".to_owned());
        }
        let mut listed = false;
        for _ in 0..50 {
            browser
                .goto(&authed)
                .await
                .map_err(fail("open the status page"))?;
            browser
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Id("store-health"))
                .await
                .map_err(fail("the status page"))?;
            if browser
                .source()
                .await
                .map_err(fail("source"))?
                .contains("browser-ping")
            {
                listed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::fs::write(
            shots.join("status.png"),
            browser.screenshot().await.map_err(fail("screenshot"))?,
        )
        .map_err(|e| e.to_string())?;
        eprintln!("screenshots in {}", shots.display());
        if !listed {
            return Err("the ping is not on the status page".to_owned());
        }
        Ok(())
    }
}
