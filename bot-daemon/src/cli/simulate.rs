//! The simulator: posts a correctly signed Cloud API webhook to a running local daemon, as a
//! WhatsApp user's message would arrive, and prints the bot's replies as the user would see
//! them (read from the daemon's database once the webhook is acknowledged).
//!
//! It sends what a phone sends: text, button taps, list picks carrying the row's real title (read
//! from the list the bot sent), and media (`--image`, `--document`, `--voice`, `--location`) in
//! the Cloud API's webhook shapes — a media id is made up; the file only gives the mime type,
//! name, sha256 and size. It never writes beside the database: the sandbox secret it signs with
//! is the one the daemon made beside its `--db`, and a missing one is an error naming that path.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use clap::Args;
use serde_json::{json, Value};

use crate::{cli_output::emit, config::Config, storage, webhook::signature::sign};

/// `bot-daemon simulate`.
#[derive(Debug, Clone, Default, Args)]
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
    /// Pick a list row by id (faq_1, csat_4, ...) from the last lists the bot sent this user.
    #[arg(long, conflicts_with = "text")]
    pub list: Option<String>,
    /// Send media instead of text (TEXT, if given, is the image's or document's caption).
    #[command(flatten)]
    pub media: MediaArgs,
    /// The webhook URL (default: http://<http-addr>/webhook).
    #[arg(long)]
    pub url: Option<String>,
    /// The text message to send.
    pub text: Option<String>,
}

/// The media a simulated user can send; at most one, and not with a button or list pick.
#[derive(Debug, Clone, Default, Args)]
pub struct MediaArgs {
    /// Send an image (JPEG, PNG or WebP file); TEXT becomes its caption.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["button", "list", "document", "voice", "location"])]
    pub image: Option<PathBuf>,
    /// Send a document (any file; its name is the document's filename); TEXT becomes its caption.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["button", "list", "voice", "location"])]
    pub document: Option<PathBuf>,
    /// Send a voice note (an audio file, e.g. .ogg/.opus).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["button", "list", "text", "location"])]
    pub voice: Option<PathBuf>,
    /// Share a location: latitude,longitude and an optional place name.
    #[arg(long, value_name = "LAT,LON[,NAME]", conflicts_with_all = ["button", "list", "text"])]
    pub location: Option<String>,
}

/// A file as the Cloud API describes an uploaded medium.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFile {
    /// The file's name (a document's `filename`).
    pub filename: String,
    /// The mime type, from the file's extension.
    pub mime_type: String,
    /// The base64 SHA-256 of the file's bytes, as the Cloud API sends it.
    pub sha256: String,
    /// The file's size in bytes (shown in the transcript).
    pub size: u64,
}

impl MediaFile {
    /// Reads `path` for its name, type, hash and size.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn read(path: &Path) -> anyhow::Result<MediaFile> {
        use sha2::Digest;
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        Ok(MediaFile {
            mime_type: mime_type(&filename).to_string(),
            filename,
            sha256: base64(&sha2::Sha256::digest(&bytes)),
            size: bytes.len() as u64,
        })
    }
}

/// The mime type WhatsApp would report for a file of this name.
pub fn mime_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "ogg" | "opus" => "audio/ogg; codecs=opus",
        "mp3" => "audio/mpeg",
        "m4a" | "mp4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        _ => "application/octet-stream",
    }
}

/// Standard base64 with padding (the Cloud API's `sha256` encoding).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A shared location.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The place's name, when given.
    pub name: Option<String>,
}

/// Parses `LAT,LON[,NAME]` (the name may itself contain commas).
///
/// # Errors
/// Not two numbers, or out of range.
pub fn parse_location(s: &str) -> Result<Location, String> {
    let mut parts = s.splitn(3, ',');
    let mut coord = |what: &str, max: f64| -> Result<f64, String> {
        let raw = parts.next().unwrap_or("").trim();
        let v: f64 = raw
            .parse()
            .map_err(|_| format!("--location {s:?}: the {what} {raw:?} is not a number (give LAT,LON[,NAME], e.g. 6.5244,3.3792,Main campus)"))?;
        if !v.is_finite() || v.abs() > max {
            return Err(format!(
                "--location {s:?}: the {what} must be between -{max} and {max}"
            ));
        }
        Ok(v)
    };
    let latitude = coord("latitude", 90.0)?;
    let longitude = coord("longitude", 180.0)?;
    let name = parts
        .next()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Ok(Location {
        latitude,
        longitude,
        name,
    })
}

/// What the simulator read before building the webhook: the medium, if any, and the picked
/// list row's title and description as the bot sent them.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// `--image`, `--document` or `--voice`, read.
    pub file: Option<MediaFile>,
    /// `--location`, parsed.
    pub location: Option<Location>,
    /// `--list ID`'s row: its title and description.
    pub row: Option<(String, Option<String>)>,
}

/// Finds the row `id` in the most recent of `payloads` (outbound messages, newest first) that
/// offers it: its title and description.
pub fn row_in_payloads(payloads: &[String], id: &str) -> Option<(String, Option<String>)> {
    payloads.iter().find_map(|p| {
        let v: Value = serde_json::from_str(p).ok()?;
        v["interactive"]["action"]["sections"]
            .as_array()?
            .iter()
            .filter_map(|s| s["rows"].as_array())
            .flatten()
            .find(|r| r["id"].as_str() == Some(id))
            .map(|r| {
                (
                    r["title"].as_str().unwrap_or(id).to_string(),
                    r["description"].as_str().map(str::to_string),
                )
            })
    })
}

fn media_id() -> String {
    format!(
        "{}",
        1_000_000_000_000_000u64 + rand::random::<u64>() % 9_000_000_000_000_000
    )
}

fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
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
    resolved: &Resolved,
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
        let (title, description) = resolved
            .row
            .clone()
            .ok_or_else(|| format!("no list the bot sent this user has a row {id:?}"))?;
        let mut reply = json!({ "id": id, "title": title });
        if let Some(d) = description {
            reply["description"] = json!(d);
        }
        message["type"] = json!("interactive");
        message["interactive"] = json!({ "type": "list_reply", "list_reply": reply });
    } else if let Some(loc) = &resolved.location {
        let mut l = json!({ "latitude": loc.latitude, "longitude": loc.longitude });
        if let Some(n) = &loc.name {
            l["name"] = json!(n);
        }
        message["type"] = json!("location");
        message["location"] = l;
    } else if let Some(f) = &resolved.file {
        let kind = if args.media.image.is_some() {
            "image"
        } else if args.media.voice.is_some() {
            "audio"
        } else {
            "document"
        };
        let mut m = json!({ "mime_type": f.mime_type, "sha256": f.sha256, "id": media_id() });
        match kind {
            "audio" => m["voice"] = json!(true),
            "document" => m["filename"] = json!(f.filename),
            _ => {}
        }
        if let Some(c) = args.text.as_deref().filter(|_| kind != "audio") {
            m["caption"] = json!(c);
        }
        message["type"] = json!(kind);
        message[kind] = m;
    } else if let Some(t) = &args.text {
        message["type"] = json!("text");
        message["text"] = json!({ "body": t });
    } else {
        return Err("nothing to send: give a TEXT, --button ID, --list ID, --image FILE, --document FILE, --voice FILE or --location LAT,LON".into());
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

/// What the user sent, as the transcript's first line shows it.
pub fn you_line(args: &SimulateArgs, resolved: &Resolved) -> String {
    let caption = args
        .text
        .as_deref()
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    if let Some(f) = &resolved.file {
        let kind = if args.media.image.is_some() {
            "image"
        } else if args.media.voice.is_some() {
            "voice note"
        } else {
            "document"
        };
        let caption = if args.media.voice.is_some() {
            ""
        } else {
            &caption
        };
        return format!(
            "[{kind}] {} ({}, {}){caption}",
            f.filename,
            f.mime_type,
            human_size(f.size)
        );
    }
    if let Some(l) = &resolved.location {
        let name = l
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        return format!("[location] {}, {}{name}", l.latitude, l.longitude);
    }
    if let Some(b) = &args.button {
        return format!("[tap] {}", button_title(b));
    }
    if let Some((title, _)) = &resolved.row {
        return format!("[pick] {title}");
    }
    args.text.clone().unwrap_or_default()
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
    for line in exchange(cfg, args).await? {
        emit(line)?;
    }
    Ok(())
}

/// The sandbox secret the daemon keeps beside its database, read and never created: a
/// simulator run from the wrong directory must say so, not sign with a fresh secret of its own.
///
/// # Errors
/// Outside sandbox mode without a secret, no database or no secret file at the configured path.
pub fn signing_secret(cfg: &Config) -> anyhow::Result<String> {
    if let Some(s) = &cfg.app_secret {
        return Ok(s.clone());
    }
    if !cfg.is_sandbox() {
        anyhow::bail!("WHATSAPP_APP_SECRET is required outside sandbox mode");
    }
    let mut name = cfg.db.path().as_os_str().to_owned();
    name.push(".sandbox-secret");
    let path = PathBuf::from(name);
    if (!cfg.db.is_shared() && !cfg.db.path().exists()) || !path.exists() {
        anyhow::bail!(
            "no daemon database at {} (or no {} beside it): run simulate with the daemon's --db / CHAT_SUPPORT_DB (or from the directory the daemon runs in), or set WHATSAPP_APP_SECRET",
            cfg.db.path().display(),
            path.display()
        );
    }
    Ok(crate::config::secret_beside_db(cfg.db.path(), "sandbox-secret")?.0)
}

/// Reads what `args` refer to: the media file, the location, and the picked row's title.
async fn resolve(
    cfg: &Config,
    args: &SimulateArgs,
    phone: Option<String>,
) -> anyhow::Result<Resolved> {
    let m = &args.media;
    let file = match m
        .image
        .as_ref()
        .or(m.document.as_ref())
        .or(m.voice.as_ref())
    {
        Some(p) => Some(MediaFile::read(p)?),
        None => None,
    };
    let location = match &m.location {
        Some(l) => Some(parse_location(l).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let row = match &args.list {
        Some(id) => {
            let (db, user_id) = (cfg.db.clone(), args.user_id.clone());
            let payloads = tokio::task::spawn_blocking(move || {
                storage::recent_outbound_payloads(&db, phone.as_deref(), user_id.as_deref(), 50)
            })
            .await??;
            Some(row_in_payloads(&payloads, id).ok_or_else(|| {
                anyhow::anyhow!("the bot has not sent this user a list with a row {id:?}: pick a row id from the last list it sent (the ids in brackets)")
            })?)
        }
        None => None,
    };
    Ok(Resolved {
        file,
        location,
        row,
    })
}

/// Posts the message and returns the transcript: the user's line, then one entry per reply
/// (`🤖 bot: …` or `🤖 admin: …`, with buttons and list rows under it).
///
/// # Errors
/// A failed request, a non-200 answer, or an unreadable database.
pub async fn exchange(cfg: &Config, args: &SimulateArgs) -> anyhow::Result<Vec<String>> {
    let secret = signing_secret(cfg)?;
    let phone = args
        .from
        .as_deref()
        .map(|f| f.chars().filter(char::is_ascii_digit).collect::<String>());
    let resolved = resolve(cfg, args, phone).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let wamid = format!("wamid.SIM{}{:08x}", now.as_millis(), rand::random::<u32>());
    let payload = build_payload(args, &cfg.phone_number_id, &wamid, now.as_secs(), &resolved)
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
            cfg.db.path().display()
        );
    }
    if !status.is_success() {
        anyhow::bail!("the daemon answered {status}: {text}");
    }
    // The 200 says the delivery is in the durable inbox; its replies exist once it is
    // processed.
    let db = cfg.db.clone();
    if let Some(id) = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["inbox_id"].as_i64())
    {
        let started = std::time::Instant::now();
        loop {
            let path = db.clone();
            let (done, parked) =
                tokio::task::spawn_blocking(move || storage::inbox_delivery_done(&path, id))
                    .await??;
            if let Some(error) = parked {
                anyhow::bail!("the daemon could not process the message and parked it (`admin inbox` lists it): {error}");
            }
            if done {
                break;
            }
            if started.elapsed() > Duration::from_secs(15) {
                anyhow::bail!("the daemon acknowledged the message but has not processed it within 15 s (see `admin inbox` and its log)");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let you = you_line(args, &resolved);
    let mut transcript = vec![format!("👤 {}: {you}", args.name)];
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
            media: MediaArgs::default(),
            url: None,
            text: Some("Chat Support".into()),
        }
    }

    #[test]
    fn simulated_payloads_parse_as_real_ones() {
        let v = build_payload(
            &args(),
            "123",
            "wamid.X",
            1_767_262_500,
            &Resolved::default(),
        )
        .unwrap();
        let d = webhook::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(d.messages.len(), 1);
        assert_eq!(d.messages[0].user.phone.as_deref(), Some("2348012345678"));
        assert_eq!(d.messages[0].display_text(), "Chat Support");

        let mut a = args();
        a.text = None;
        a.button = Some("end_chat".into());
        a.from = None;
        a.user_id = Some("NG.123".into());
        let v = build_payload(&a, "123", "wamid.Y", 1, &Resolved::default()).unwrap();
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

    #[test]
    fn media_payloads_parse_as_real_ones() {
        let file = MediaFile {
            filename: "a.pdf".into(),
            mime_type: "application/pdf".into(),
            sha256: base64(b"x"),
            size: 1,
        };
        let mut a = args();
        a.text = Some("my submission".into());
        a.media.document = Some("a.pdf".into());
        let r = Resolved {
            file: Some(file),
            ..Resolved::default()
        };
        let v = build_payload(&a, "123", "wamid.D", 1, &r).unwrap();
        let m = &v["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(m["type"], "document");
        assert_eq!(m["document"]["filename"], "a.pdf");
        assert_eq!(m["document"]["caption"], "my submission");
        let d = webhook::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            d.messages[0].display_text(),
            "[document] a.pdf: my submission"
        );

        let mut a = args();
        a.text = None;
        a.media.location = Some("6.5,3.3,Main campus".into());
        let r = Resolved {
            location: Some(parse_location("6.5,3.3,Main campus").unwrap()),
            ..Resolved::default()
        };
        let v = build_payload(&a, "123", "wamid.L", 1, &r).unwrap();
        let d = webhook::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            d.messages[0].display_text(),
            "[location] Main campus (6.5, 3.3)"
        );
    }

    #[test]
    fn hashes_are_base64_and_locations_are_checked() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(mime_type("Photo.JPG"), "image/jpeg");
        assert_eq!(mime_type("note.opus"), "audio/ogg; codecs=opus");
        assert!(parse_location("91,0").is_err());
        assert!(parse_location("six,3").is_err());
        assert_eq!(parse_location("1, 2").unwrap().name, None);
    }

    #[test]
    fn a_row_is_found_in_the_newest_list_that_offers_it() {
        let old =
            r#"{"interactive":{"action":{"sections":[{"rows":[{"id":"faq_1","title":"Old"}]}]}}}"#;
        let new = r#"{"interactive":{"action":{"sections":[{"rows":[{"id":"faq_1","title":"Fees","description":"How to pay"}]}]}}}"#;
        let payloads = vec!["{}".to_string(), new.to_string(), old.to_string()];
        assert_eq!(
            row_in_payloads(&payloads, "faq_1"),
            Some(("Fees".into(), Some("How to pay".into())))
        );
        assert_eq!(row_in_payloads(&payloads, "faq_2"), None);
    }
}
