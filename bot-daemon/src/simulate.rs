//! The simulator: posts a correctly signed Cloud API webhook to a running local daemon, as a
//! WhatsApp user's message would arrive, and prints the bot's replies as the user would see
//! them (read from the daemon's database once the webhook is acknowledged).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::{json, Value};

use crate::{config::Config, resolve_app_secret, storage, webhook::signature::sign};

/// `bot-daemon simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// The user's phone number (digits, '+' allowed).
    #[arg(long)]
    pub from: Option<String>,
    /// The user's business-scoped id (BSUID); with no --from this is a username-only user.
    #[arg(long)]
    pub user_id: Option<String>,
    /// The user's WhatsApp profile name.
    #[arg(long, default_value = "Ada")]
    pub name: String,
    /// The user's WhatsApp username.
    #[arg(long)]
    pub username: Option<String>,
    /// Tap a reply button by id (chat_support, end_chat, main_menu, faq, register).
    #[arg(long, conflicts_with_all = ["list", "text"])]
    pub button: Option<String>,
    /// Pick a list row by id (faq_1, ...).
    #[arg(long, conflicts_with = "text")]
    pub list: Option<String>,
    /// The webhook URL (default: http://<http-addr>/webhook).
    #[arg(long)]
    pub url: Option<String>,
    /// The text message to send.
    pub text: Option<String>,
}

fn button_title(id: &str) -> String {
    match id {
        "chat_support" => "💬 Chat Support",
        "end_chat" => "❌ End Chat",
        "main_menu" => "🏠 Main Menu",
        "faq" => "📚 FAQ",
        "register" => "📝 Register",
        other => other,
    }
    .to_string()
}

/// Builds the webhook body a user's message would produce.
///
/// # Errors
/// Neither a phone number nor a BSUID, or nothing to send.
pub fn build_payload(
    args: &SimulateArgs,
    phone_number_id: &str,
    wamid: &str,
    now_secs: u64,
) -> Result<Value, String> {
    let phone = args
        .from
        .as_deref()
        .map(|f| f.chars().filter(char::is_ascii_digit).collect::<String>());
    if phone.is_none() && args.user_id.is_none() {
        return Err("give --from PHONE or --user-id BSUID".into());
    }
    let mut profile = json!({ "name": args.name });
    if let Some(u) = &args.username {
        profile["username"] = json!(u);
    }
    let mut contact = json!({ "profile": profile });
    let mut message = json!({ "id": wamid, "timestamp": now_secs.to_string() });
    if let Some(p) = &phone {
        contact["wa_id"] = json!(p);
        message["from"] = json!(p);
    }
    if let Some(u) = &args.user_id {
        contact["user_id"] = json!(u);
        message["from_user_id"] = json!(u);
    }
    if let Some(id) = &args.button {
        message["type"] = json!("interactive");
        message["interactive"] = json!({ "type": "button_reply", "button_reply": { "id": id, "title": button_title(id) } });
    } else if let Some(id) = &args.list {
        message["type"] = json!("interactive");
        message["interactive"] =
            json!({ "type": "list_reply", "list_reply": { "id": id, "title": id } });
    } else if let Some(t) = &args.text {
        message["type"] = json!("text");
        message["text"] = json!({ "body": t });
    } else {
        return Err("nothing to send: give a TEXT, --button ID or --list ID".into());
    }
    Ok(json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "0",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550000000", "phone_number_id": phone_number_id },
                    "contacts": [contact],
                    "messages": [message]
                }
            }]
        }]
    }))
}

/// Renders a stored reply as the user would see it: text, then its buttons or list rows.
pub fn render_reply(text: &str, payload: Option<&str>) -> String {
    let mut out = text.to_string();
    let v: Value = payload
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let action = &v["interactive"]["action"];
    if let Some(buttons) = action["buttons"].as_array() {
        let titles: Vec<String> = buttons
            .iter()
            .map(|b| {
                format!(
                    "[{}] ({})",
                    b["reply"]["title"].as_str().unwrap_or(""),
                    b["reply"]["id"].as_str().unwrap_or("")
                )
            })
            .collect();
        out.push_str(&format!("\n   {}", titles.join("  ")));
    }
    if let Some(sections) = action["sections"].as_array() {
        out.push_str(&format!(
            "\n   ☰ {}",
            action["button"].as_str().unwrap_or("")
        ));
        for row in sections
            .iter()
            .filter_map(|s| s["rows"].as_array())
            .flatten()
        {
            out.push_str(&format!(
                "\n     • {} ({})",
                row["title"].as_str().unwrap_or(""),
                row["id"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// Posts the message and prints what the user sent and the replies.
///
/// # Errors
/// A failed request, a non-200 answer, or an unreadable database.
pub async fn run(cfg: &Config, args: &SimulateArgs) -> anyhow::Result<()> {
    let transcript = exchange(cfg, args).await?;
    println!("{}", transcript.join("\n"));
    Ok(())
}

/// Posts the message and returns the transcript: the user's line, then one entry per reply
/// (`🤖 bot: …` or `🤖 admin: …`, with buttons and list rows under it).
///
/// # Errors
/// A failed request, a non-200 answer, or an unreadable database.
pub async fn exchange(cfg: &Config, args: &SimulateArgs) -> anyhow::Result<Vec<String>> {
    let secret = resolve_app_secret(cfg)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let wamid = format!("wamid.SIM{}{:08x}", now.as_millis(), rand::random::<u32>());
    let payload = build_payload(args, &cfg.phone_number_id, &wamid, now.as_secs())
        .map_err(anyhow::Error::msg)?;
    let body = serde_json::to_vec(&payload)?;
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{}/webhook", cfg.http_addr));
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(secret.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("could not reach the daemon at {url}: {e}\nIs it running? Start it with: cargo run --release -p bot-daemon"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        anyhow::bail!(
            "the daemon answered {status}: {text}\nThe simulator signs with WHATSAPP_APP_SECRET, or in sandbox mode with the secret kept beside the database ({}.sandbox-secret): run it with the same --db / environment as the daemon.",
            cfg.db.display()
        );
    }
    if !status.is_success() {
        anyhow::bail!("the daemon answered {status}: {text}");
    }
    let you = args
        .text
        .clone()
        .or_else(|| {
            args.button
                .as_deref()
                .map(|b| format!("[tap] {}", button_title(b)))
        })
        .or_else(|| args.list.as_deref().map(|l| format!("[pick] {l}")))
        .unwrap_or_default();
    let mut transcript = vec![format!("👤 {}: {you}", args.name)];
    let db = cfg.db.clone();
    let replies =
        tokio::task::spawn_blocking(move || storage::replies_after_wamid(&db, &wamid)).await??;
    if replies.is_empty() {
        transcript.push("   (no reply)".to_string());
    }
    for (m, payload) in replies {
        transcript.push(format!(
            "🤖 {}: {}",
            m.sender.as_str(),
            render_reply(&m.text, payload.as_deref())
        ));
    }
    Ok(transcript)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook;

    fn args() -> SimulateArgs {
        SimulateArgs {
            from: Some("+234 801 234 5678".into()),
            user_id: None,
            name: "Ada".into(),
            username: None,
            button: None,
            list: None,
            url: None,
            text: Some("Chat Support".into()),
        }
    }

    #[test]
    fn simulated_payloads_parse_as_real_ones() {
        let v = build_payload(&args(), "123", "wamid.X", 1_767_262_500).unwrap();
        let d = webhook::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(d.messages.len(), 1);
        assert_eq!(d.messages[0].user.phone.as_deref(), Some("2348012345678"));
        assert_eq!(d.messages[0].display_text(), "Chat Support");

        let mut a = args();
        a.text = None;
        a.button = Some("end_chat".into());
        a.from = None;
        a.user_id = Some("NG.123".into());
        let v = build_payload(&a, "123", "wamid.Y", 1).unwrap();
        let d = webhook::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(d.messages[0].user.phone, None);
        assert_eq!(d.messages[0].user.user_id.as_deref(), Some("NG.123"));
        assert_eq!(d.messages[0].display_text(), "❌ End Chat");
    }

    #[test]
    fn replies_render_with_their_buttons() {
        let p = r#"{"interactive":{"action":{"buttons":[{"type":"reply","reply":{"id":"end_chat","title":"❌ End Chat"}}]}}}"#;
        assert_eq!(
            render_reply("Hi", Some(p)),
            "Hi\n   [❌ End Chat] (end_chat)"
        );
    }
}
