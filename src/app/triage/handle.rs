//! A triage command carried out: at most three requests (the permission,
//! one query, one mutation), no analysis.

use super::{Command, Request};
use crate::app::webhook::{CHECK_NAME, Job};
use crate::config::repo::{CONFIG_PATH, RepoConfig};
use crate::github::graphql::same_login;
use crate::github::triage::{CheckRunState, CheckUpdate, Thread, TriageWrite};
use crate::github::{GitHubError, Installation};
use crate::report::check_run::{title_with_dismissals, verdict};
use crate::report::review;
use crate::report::triage::{self as text, Dismissal, Gate};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The finding is dismissed (and the check re-gated when it could be).
    Dismissed,
    /// The author may not dismiss: a polite refusal.
    Refused,
    /// Not understood: help.
    Helped,
    /// The repository switched triage off: said so.
    Disabled,
    /// Not a reply to one of the bot's finding comments: nothing to do.
    NotOurs,
}

/// Carries out `command` on the job's pull request.
pub async fn run(
    github: &Installation,
    job: &Job,
    command: &Command,
) -> Result<Handled, GitHubError> {
    let bot_login = github.bot_login().await?;
    let config_expression = format!("{}:{CONFIG_PATH}", job.base_sha);
    let context = github
        .triage_context(
            &job.repo,
            job.number,
            (&config_expression, &job.head_sha),
            (github.app_id(), CHECK_NAME),
        )
        .await?;
    // The thread the command answers must start with the bot's comment on
    // a finding; a command elsewhere is not for us.
    let Some((thread, marker)) = context.threads.iter().find_map(|thread| {
        let first = thread.comments.first()?;
        let ours = first.database_id == command.reply_to
            && first
                .author
                .as_deref()
                .is_some_and(|login| same_login(login, &bot_login));
        let marker = review::marker_in(&first.body).filter(|_| ours)?;
        Some((thread, marker))
    }) else {
        return Ok(Handled::NotOurs);
    };
    let (config, _) = RepoConfig::parse(context.config.as_deref().unwrap_or_default());
    let reply = |body: String, resolve: bool, check: Option<CheckUpdate>| TriageWrite {
        thread_id: thread.id.clone(),
        reply: body,
        resolve,
        check,
    };
    if !config.triage {
        github
            .triage_write(&reply(text::reply_disabled(), false, None))
            .await?;
        return Ok(Handled::Disabled);
    }
    let (verb, reason) = match &command.request {
        Request::Help(unknown) => {
            let body = text::reply_help(unknown, &super::command::help());
            github.triage_write(&reply(body, false, None)).await?;
            return Ok(Handled::Helped);
        }
        Request::Dismiss { verb, reason } => (*verb, reason.clone()),
    };
    let permission = github
        .collaborator_permission(&job.repo, &command.author)
        .await?;
    if !permission.can_write() {
        github
            .triage_write(&reply(text::reply_refused(&command.author), false, None))
            .await?;
        return Ok(Handled::Refused);
    }
    let dismissal = Dismissal {
        fingerprints: marker
            .fingerprints
            .iter()
            .map(|f| (*f).to_owned())
            .collect(),
        verb,
        by: command.author.clone(),
        reason,
        rules: marker.rules.iter().map(|r| (*r).to_owned()).collect(),
    };
    let mut dismissals = earlier_dismissals(&context.threads, &bot_login);
    dismissals.retain(|d| d.fingerprints != dismissal.fingerprints);
    dismissals.push(dismissal.clone());
    let check = context
        .check_run
        .as_ref()
        .and_then(|run| regate(run, &context.repository_id, job.number, &dismissals));
    let body = text::reply_dismissed(&dismissal, check.as_ref().map(|c| c.conclusion.as_str()));
    github.triage_write(&reply(body, true, check)).await?;
    Ok(Handled::Dismissed)
}

/// The dismissals the bot's replies recorded before, in every thread.
fn earlier_dismissals(threads: &[Thread], bot_login: &str) -> Vec<Dismissal> {
    text::latest(
        threads
            .iter()
            .flat_map(|t| t.comments.iter().skip(1))
            .filter(|c| {
                c.author
                    .as_deref()
                    .is_some_and(|login| same_login(login, bot_login))
            })
            .filter_map(|c| text::dismissal_in(&c.body))
            .collect(),
    )
}

/// The check run re-gated with `dismissals` of pull request `number`, when
/// it holds a gate and a conclusion the gate decided (a check that failed
/// to run, was superseded or skipped is left as it is).
fn regate(
    run: &CheckRunState,
    repository_id: &str,
    number: u64,
    dismissals: &[Dismissal],
) -> Option<CheckUpdate> {
    let conclusion = run.conclusion.as_deref()?.to_ascii_lowercase();
    if conclusion != "success" && conclusion != "failure" {
        return None;
    }
    let mut gate = Gate::read(run.text.as_deref()?)?;
    for dismissal in dismissals {
        gate.dismiss(number, &dismissal.fingerprints);
    }
    let several = gate.failing.len() > 1;
    let block = text::dismissals_block(number, several, dismissals);
    let summary = text::regate_summary(
        run.summary.as_deref()?,
        &verdict(gate.conclusion(), &gate.fail_on, dismissals.len()),
        number,
        &block,
    )?;
    Some(CheckUpdate {
        repository_id: repository_id.to_owned(),
        check_run_id: run.id.clone(),
        conclusion: gate.conclusion().to_owned(),
        title: title_with_dismissals(run.title.as_deref().unwrap_or("hunkscan"), dismissals.len()),
        summary,
        text: Some(gate.marker()),
    })
}
