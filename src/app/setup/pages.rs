//! The setup pages' HTML. Outside text (the operator's input, GitHub's
//! names and credentials) goes through `render::html`, always.

use super::manifest::{Choices, Keep, Owner};
use crate::app::page::layout;
use crate::render::{html, html_lines};

/// What the form shows: its defaults, or what the operator posted.
pub struct FormView<'a> {
    /// A problem with the last post, if any.
    pub error: Option<&'a str>,
    /// The GitHub `GITHUB_API_URL` fixes, if it is set (its web origin).
    pub fixed_github: Option<&'a str>,
    /// The organisation login typed so far.
    pub org: &'a str,
    /// Whether "personal account" is chosen.
    pub personal: bool,
    /// Whether GitHub Enterprise Server is chosen, and its host.
    pub enterprise: Option<&'a str>,
    /// The webhook URL (prefilled from the request's host).
    pub webhook_url: &'a str,
    /// The app's name.
    pub name: &'a str,
    /// The env file, and whether it exists already.
    pub env_file: &'a str,
    /// Whether the env file exists (then only "show once" is offered).
    pub env_file_exists: bool,
}

fn checked(on: bool) -> &'static str {
    if on { " checked" } else { "" }
}

/// The first page: the operator's choices.
pub fn form(view: &FormView<'_>) -> String {
    let error = view
        .error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", html(e)))
        .unwrap_or_default();
    let github = match view.fixed_github {
        Some(web) => format!(
            "<p>The app is registered on <code>{}</code> (from <code>GITHUB_API_URL</code>).</p>",
            html(web)
        ),
        None => format!(
            "<label><input type=\"radio\" name=\"github\" value=\"github.com\"{}> GitHub.com</label>\
             <label><input type=\"radio\" name=\"github\" value=\"enterprise\" id=\"enterprise\"{}> \
             GitHub Enterprise Server, at this host:</label>\
             <input type=\"text\" name=\"enterprise_host\" id=\"enterprise_host\" \
             placeholder=\"ghe.example.com\" value=\"{}\">",
            checked(view.enterprise.is_none()),
            checked(view.enterprise.is_some()),
            html(view.enterprise.unwrap_or_default()),
        ),
    };
    let env_file = html(view.env_file);
    let keep = if view.env_file_exists {
        format!(
            "<p><code>{env_file}</code> exists already, and hunkscan never overwrites it: \
             the credentials will be shown once on the page instead.</p>\
             <input type=\"hidden\" name=\"keep\" value=\"show\">"
        )
    } else {
        format!(
            "<label><input type=\"radio\" name=\"keep\" value=\"env\" checked> Write them to \
             <code>{env_file}</code> (readable only by this user, mode 0600)</label>\
             <label><input type=\"radio\" name=\"keep\" value=\"show\" id=\"keep-show\"> Show them \
             once on the page, for a secret store (e.g. <code>fly secrets import</code>)</label>"
        )
    };
    let body = format!(
        "<h1>Set up hunkscan</h1>\
         <p class=\"next\">hunkscan has no GitHub App yet. This page registers one from \
         <code>app.yml</code>: choose below, confirm on GitHub, and GitHub sends you back here. \
         hunkscan then keeps the app's credentials and starts reviewing pull requests, \
         without a restart.</p>{error}\
         <form method=\"post\" action=\"/setup/manifest\">\
         <fieldset><legend>1. Whose app</legend>\
         <label><input type=\"radio\" name=\"account\" value=\"organization\" id=\"account-org\"{org_checked}> \
         An organisation (an app that is not public can only be installed on the account that owns it)</label>\
         <label for=\"org\">Organisation login</label>\
         <input type=\"text\" name=\"org\" id=\"org\" placeholder=\"acme-corp\" value=\"{org}\">\
         <label><input type=\"radio\" name=\"account\" value=\"personal\" id=\"account-personal\"{personal_checked}> \
         My personal account</label></fieldset>\
         <fieldset><legend>2. Which GitHub</legend>{github}</fieldset>\
         <fieldset><legend>3. Public webhook URL</legend>\
         <input type=\"url\" name=\"webhook_url\" id=\"webhook_url\" value=\"{webhook}\">\
         <p class=\"hint\">GitHub posts pull request events here, so it must reach this server \
         from the internet (e.g. <code>https://YOUR-APP.fly.dev/api/github/webhooks</code>). \
         Prefilled from the address this page was opened at.</p></fieldset>\
         <fieldset><legend>4. The app's name on GitHub</legend>\
         <input type=\"text\" name=\"name\" id=\"name\" value=\"{name}\">\
         <p class=\"hint\">Unique on GitHub; you can change it on GitHub's confirmation page.</p></fieldset>\
         <fieldset><legend>5. Where the credentials go</legend>{keep}</fieldset>\
         <button type=\"submit\" id=\"continue\">Continue</button>\
         <p class=\"hint\">Next: a page shows what will be registered, with one button that sends it to GitHub.</p>\
         </form>",
        org_checked = checked(!view.personal),
        personal_checked = checked(view.personal),
        org = html(view.org),
        webhook = html(view.webhook_url),
        name = html(view.name),
    );
    layout("Set up hunkscan", &body)
}

/// The second page: what will be registered, and the one button that
/// posts the manifest to GitHub.
pub fn confirm(choices: &Choices, action: &str, manifest: &serde_json::Value) -> String {
    let owner = match &choices.owner {
        Owner::Personal => "your personal account".to_owned(),
        Owner::Organization(org) => format!("the organisation <code>{}</code>", html(org)),
    };
    let list = |key: &str| -> String {
        match &manifest[key] {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{}: {}", k, v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", "),
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    };
    let keep = match choices.keep {
        Keep::EnvFile => "written to the env file (mode 0600)",
        Keep::ShowOnce => "shown once on the page that follows",
    };
    let body = format!(
        "<h1>Register {name} on GitHub</h1>\
         <p class=\"next\">Next: the button sends this manifest to GitHub. GitHub shows it (sign in as \
         an owner of {owner} if asked) and asks you to confirm with <b>Create GitHub App</b>; it then \
         sends you back to this server, which keeps the app's credentials ({keep}). This works once, \
         from this browser, within an hour.</p>\
         <dl><dt>Name</dt><dd>{name}</dd><dt>Owner</dt><dd>{owner}</dd>\
         <dt>GitHub</dt><dd><code>{web}</code></dd>\
         <dt>Webhook URL</dt><dd><code>{webhook}</code></dd>\
         <dt>Back to</dt><dd><code>{callback}</code></dd>\
         <dt>Permissions</dt><dd>{permissions}</dd><dt>Events</dt><dd>{events}</dd></dl>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\
         <button type=\"submit\" id=\"register\">Register on GitHub</button></form>\
         <p><a href=\"/\">Start over</a></p>",
        name = html(&choices.name),
        web = html(&choices.target.web),
        webhook = html(&choices.webhook_url),
        callback = html(&choices.callback_url),
        permissions = html(&list("default_permissions")),
        events = html(&list("default_events")),
        action = html(action),
        manifest = html(&manifest.to_string()),
    );
    layout("Register hunkscan on GitHub", &body)
}

/// Where the credentials ended up, for the last page.
pub enum Kept<'a> {
    /// Written to this file.
    Written(&'a str),
    /// Shown here, once; with the reason when the operator chose a file.
    Shown {
        /// The env file's text.
        text: &'a str,
        /// Why they were not written, if the operator asked for a file.
        why: Option<&'a str>,
    },
}

/// The last page: registered, running, and the link that installs it.
pub fn done(name: &str, install_url: &str, kept: &Kept<'_>, running: Result<(), &str>) -> String {
    let kept = match kept {
        Kept::Written(path) => format!(
            "<p>The credentials were written to <code>{}</code> (mode 0600, readable only by \
             this user); hunkscan reads them there at every start. Keep the file private and out \
             of version control.</p>",
            html(path)
        ),
        Kept::Shown { text, why } => format!(
            "{}<p><b>Store these now: they are shown this once.</b> For fly.io, save them as \
             <code>hunkscan.env</code> and run <code>fly secrets import &lt; hunkscan.env</code>, \
             then delete the file; elsewhere, put them in your secret store.</p>\
             <pre id=\"credentials\">{}</pre>",
            why.map(|why| format!("<p class=\"error\">{}</p>", html(why)))
                .unwrap_or_default(),
            html_lines(text)
        ),
    };
    let running = match running {
        Ok(()) => "<p>hunkscan is already running as this app: deliveries signed with its new \
                   webhook secret are accepted from now on, no restart needed.</p>"
            .to_owned(),
        Err(why) => format!(
            "<p class=\"error\">hunkscan could not start as this app: {}. Fix it and restart; \
             the credentials above are what it needs.</p>",
            html(why)
        ),
    };
    let body = format!(
        "<h1 id=\"installed\">{name} is registered</h1>\
         <p class=\"next\">Next: install it on the repositories it should review: \
         <a id=\"install-link\" href=\"{install}\">Install {name}</a>. Then open a pull request \
         to see the <code>hunkscan</code> check, and make it a required check.</p>\
         {running}{kept}\
         <p class=\"hint\">This server's <code>/</code> is now the status page for operators \
         (set <code>HUNKSCAN_STATUS_TOKEN</code> to turn it on).</p>",
        name = html(name),
        install = html(install_url),
    );
    layout("hunkscan is registered", &body)
}

/// A page that says what went wrong and what to do.
pub fn problem(title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p class=\"next\">Next: \
         <a href=\"/\">start again</a> from the setup page.</p>",
        html(title),
        html(message)
    );
    layout(&html(title), &body)
}
