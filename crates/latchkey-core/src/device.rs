//! What a client's user agent and address say about it: a label for the
//! device list, and the client context a session is bound to.
//!
//! A token replayed from another browser, another OS or another network is
//! then refused even though it is valid. The user agent is the client's own
//! word, so this raises the bar for a thief rather than proving anything; it
//! is kept coarse (family, OS, major version, /24 or /56) so that ordinary
//! updates and address changes within a network do not log anyone out. A JWT
//! carries the binding as compact text so the per-request check needs no
//! store read.

use std::{
    fmt::{self, Write as _},
    net::IpAddr,
    sync::LazyLock,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use woothee::parser::{Parser, WootheeResult};

/// Bytes of a user agent looked at. Everything that identifies a client sits
/// at the front; the cap makes a 10 KB header cost no more than a normal one.
const PARSE_MAX_BYTES: usize = 512;
/// Longest family or version kept from a product token, so a label stays a
/// label whatever a client sends.
const TOKEN_MAX_BYTES: usize = 32;
/// Longest escaped family in a binding, which keeps an encoded binding within
/// [`BINDING_MAX_BYTES`] (40 + `/` + 10 digits + `;` + 8 for "ChromeOS").
const FAMILY_MAX_ENCODED: usize = 40;
/// Longest text [`AgentBinding::decode`] considers; a JWT claim stays small.
const BINDING_MAX_BYTES: usize = 64;
/// The binding of a request without a user agent.
const NO_AGENT: &str = "-";
const UNKNOWN: &str = "Unknown";
/// What woothee reports for a field it could not fill.
const WOOTHEE_UNKNOWN: &str = "UNKNOWN";
/// The OS names a binding may hold; `decode` accepts nothing else so a forged
/// claim cannot smuggle text into logs or comparisons.
const OS_NAMES: [&str; 7] = [
    "Windows", "macOS", "Linux", "Android", "iOS", "ChromeOS", UNKNOWN,
];
const IPV4_PREFIX: u8 = 24;
const IPV6_PREFIX: u8 = 56;

/// The family of an agent nothing could be read from: "Unknown-" and the
/// first 64 bits of the SHA-256 of its text, in hex.
fn unknown_family(ua: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(head(ua, PARSE_MAX_BYTES).trim().as_bytes());
    let mut family = format!("{UNKNOWN}-");
    for byte in &digest[..8] {
        let _ = write!(family, "{byte:02x}");
    }
    family
}

/// One parser for the process: woothee's patterns are compiled once, not per
/// request.
static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

/// What a user agent says about the client, for labels and binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Browser or app family: "Firefox", "Chrome", "Safari", "Edge", "Opera", "Samsung Internet",
    /// or for native apps / libraries the product token name ("latchkey-demo", "okhttp", "curl",
    /// "Dalvik" ...), or "Unknown".
    pub family: String,
    /// Major version of the family, when there is one ("120" -> Some(120)).
    pub major: Option<u32>,
    /// Full version text as given, when there is one ("1.2", "120.0.6099.109") — used in app
    /// labels.
    pub version: Option<String>,
    /// Whether this is a browser (label shows family only) or an app/library (label shows
    /// family/version).
    pub is_browser: bool,
    /// OS family, normalized: "Windows", "macOS", "Linux", "Android", "iOS", "ChromeOS", or
    /// "Unknown" (no versions: an OS update must not change it).
    pub os: String,
}

impl Device {
    /// Parses a user agent. Never panics; any input (empty, garbage, 10 KB, control chars) gives
    /// a Device.
    pub fn parse(user_agent: &str) -> Self {
        let ua = head(user_agent, PARSE_MAX_BYTES).trim();
        let found = PARSER.parse(ua);
        let os = os_of(ua, found.as_ref()).to_owned();

        if let Some(browser) = found
            .as_ref()
            .filter(|r| r.browser_type == "browser" && r.name != WOOTHEE_UNKNOWN)
        {
            let version = clean_version(browser.version);
            return Self {
                family: browser_family(browser.name).to_owned(),
                major: version.as_deref().and_then(major_of),
                version,
                is_browser: true,
                os,
            };
        }

        // Apps and libraries name themselves in their first product token;
        // woothee either does not know them or files them all under one name
        // ("HTTP Library"), which would make every script the same client.
        if let Some((name, version)) = product_token(ua) {
            let version = head(version, TOKEN_MAX_BYTES);
            return Self {
                family: head(name, TOKEN_MAX_BYTES).to_owned(),
                major: major_of(version),
                version: Some(version.to_owned()),
                is_browser: false,
                os,
            };
        }

        // Left: crawlers that only speak inside a comment ("Mozilla/5.0
        // (compatible; Googlebot/2.1; ...)"), whose name woothee knows, and
        // garbage. woothee's version for these is not a version ("curl").
        let family = found
            .as_ref()
            .map(|r| r.name)
            .filter(|name| *name != WOOTHEE_UNKNOWN && *name != "HTTP Library")
            .unwrap_or(UNKNOWN);
        Self {
            family: family.to_owned(),
            major: None,
            version: None,
            is_browser: false,
            os,
        }
    }

    /// Human label: browsers "Firefox on Linux"; apps "latchkey-demo/1.2 on iOS" (family/version,
    /// version omitted if none); unknown OS: just "Firefox" / "latchkey-demo/1.2"; nothing known at
    /// all: "Unknown device".
    pub fn label(&self) -> String {
        let client = if self.family == UNKNOWN {
            "Unknown device".to_owned()
        } else {
            match (&self.version, self.is_browser) {
                (Some(version), false) => format!("{}/{version}", self.family),
                _ => self.family.clone(),
            }
        };
        if self.os == UNKNOWN {
            client
        } else {
            format!("{client} on {}", self.os)
        }
    }
}

/// The label for an optional user agent (None or empty -> "Unknown device").
pub fn device_label(user_agent: Option<&str>) -> String {
    Device::parse(user_agent.unwrap_or_default()).label()
}

/// The part of a user agent a session is bound to: family, OS and major version. Encoded compactly
/// as a string so a JWT can carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinding(Option<Agent>);

/// A present user agent's binding; `None` in [`AgentBinding`] is "no agent",
/// kept apart so that dropping the header is not a way around the check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Agent {
    family: String,
    os: String,
    major: Option<u32>,
}

impl AgentBinding {
    /// The binding of an optional user agent; a missing or empty agent has its own binding ("no
    /// agent"), which only matches another missing agent.
    pub fn of(user_agent: Option<&str>) -> Self {
        let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
            return Self(None);
        };
        let device = Device::parse(ua);
        let family = fit_family(&device.family);
        Self(Some(Agent {
            // An agent nothing could be read from matches only itself, not
            // every other unreadable agent.
            family: if family.is_empty() || family == UNKNOWN {
                unknown_family(ua)
            } else {
                family
            },
            os: device.os,
            major: device.major,
        }))
    }

    /// Compact text, e.g. "Firefox/120;Linux"; no agent -> "-". Parseable back by `decode`.
    pub fn encode(&self) -> String {
        let Some(agent) = &self.0 else {
            return NO_AGENT.to_owned();
        };
        let mut text = escape(&agent.family);
        if let Some(major) = agent.major {
            text.push('/');
            text.push_str(&major.to_string());
        }
        text.push(';');
        text.push_str(&agent.os);
        text
    }

    /// Inverse of encode; None for text that is not an encoding.
    pub fn decode(text: &str) -> Option<Self> {
        if text == NO_AGENT {
            return Some(Self(None));
        }
        if text.len() > BINDING_MAX_BYTES {
            return None;
        }
        let (client, os) = text.split_once(';')?;
        let os = OS_NAMES.into_iter().find(|name| *name == os)?;
        let (family, major) = match client.split_once('/') {
            Some((family, major)) => (family, Some(major.parse::<u32>().ok()?)),
            None => (client, None),
        };
        let family = unescape(family)?;
        if family.is_empty() {
            return None;
        }
        let binding = Self(Some(Agent {
            family,
            os: os.to_owned(),
            major,
        }));
        // Only the one spelling `encode` gives is accepted ("Firefox/0120",
        // "Firefox/+120" and lower-case escapes are not), so two claims bind
        // the same client exactly when their texts are equal.
        (binding.encode() == text).then_some(binding)
    }

    /// Whether a request presenting `presented` may use a session bound to `self`: same family and
    /// same OS, and the major version equal or higher (a browser update moves forward; a different
    /// browser, another OS or an older version is a different client). A family without a version
    /// matches only the same family without one.
    pub fn permits(&self, presented: &Self) -> bool {
        match (&self.0, &presented.0) {
            (None, None) => true,
            (Some(bound), Some(shown)) => {
                bound.family == shown.family
                    && bound.os == shown.os
                    && match (bound.major, shown.major) {
                        (None, None) => true,
                        (Some(bound), Some(shown)) => shown >= bound,
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}

/// The network a session is bound to: the client address's /24 (IPv4) or /56 (IPv6).
/// IPv4-mapped IPv6 addresses are treated as IPv4, so a dual-stack listener
/// does not split one client in two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkBinding(IpNet);

impl NetworkBinding {
    /// The network around `ip`: a /24 or /56 is what one household, office
    /// or mobile carrier cell tends to move within, so a renewed lease does
    /// not end the session but another network does.
    pub fn of(ip: IpAddr) -> Self {
        Self(match ip.to_canonical() {
            IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, IPV4_PREFIX).trunc()),
            IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, IPV6_PREFIX).trunc()),
        })
    }

    /// "203.0.113.0/24", "2001:db8:1:200::/56"
    pub fn encode(&self) -> String {
        self.0.to_string()
    }

    /// Inverse of encode; None for anything `of` could not have produced: a
    /// bare address, a host inside a network, another prefix length, or
    /// another spelling.
    pub fn decode(text: &str) -> Option<Self> {
        let net: IpNet = text.parse().ok()?;
        let prefix = match net {
            IpNet::V4(_) => IPV4_PREFIX,
            IpNet::V6(_) => IPV6_PREFIX,
        };
        let binding = Self(net);
        (net.prefix_len() == prefix && net.trunc() == net && binding.encode() == text)
            .then_some(binding)
    }

    /// Whether `ip` is in this network, judged as [`NetworkBinding::of`] would.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl fmt::Display for NetworkBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// At most `max` bytes of the front of `s`, cut at a character boundary.
fn head(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// The names woothee gives that differ from what a person calls the browser.
fn browser_family(name: &str) -> &str {
    match name {
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "WebView",
        other => other,
    }
}

/// The OS of an agent, without version, from woothee's word or, where it has
/// none, the text.
fn os_of(ua: &str, found: Option<&WootheeResult<'_>>) -> &'static str {
    let named = found.map_or(UNKNOWN, |r| os_family(r.os));
    // woothee says "iOS" for every CFNetwork agent, but macOS apps use
    // CFNetwork too and say "Macintosh" somewhere.
    let guessed = found.is_some_and(|r| r.os == "iOS");
    if named == UNKNOWN || guessed {
        let from_text = os_from_text(ua);
        if from_text != UNKNOWN {
            return from_text;
        }
    }
    named
}

/// woothee's OS names, versions folded away so an OS update keeps the binding.
fn os_family(name: &str) -> &'static str {
    match name {
        _ if name.starts_with("Windows") => "Windows",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        "Android" => "Android",
        "ChromeOS" => "ChromeOS",
        "Linux" => "Linux",
        _ => UNKNOWN,
    }
}

/// The OS named in the text of an agent woothee does not place. Order
/// matters: Android agents say "Linux", iOS agents say "like Mac OS X", and
/// a bare CFNetwork/Darwin agent is more often an iPhone app than a Mac one.
fn os_from_text(ua: &str) -> &'static str {
    let has = |needles: &[&str]| needles.iter().any(|needle| ua.contains(needle));
    if has(&["Android"]) {
        "Android"
    } else if has(&["iPhone", "iPad", "iPod", "iOS"]) {
        "iOS"
    } else if has(&["CrOS"]) {
        "ChromeOS"
    } else if has(&["Windows"]) {
        "Windows"
    } else if has(&["Macintosh", "Mac OS X", "macOS"]) {
        "macOS"
    } else if has(&["CFNetwork", "Darwin"]) {
        "iOS"
    } else if has(&["Linux"]) {
        "Linux"
    } else {
        UNKNOWN
    }
}

/// Characters allowed in a product token's name and version: narrower than
/// RFC 9110's `tchar`, since these end up in labels shown to people.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '+')
}

/// A browser's version as woothee read it, or None when it has none or it is
/// not version-like text.
fn clean_version(version: &str) -> Option<String> {
    let version = head(version, TOKEN_MAX_BYTES);
    (version != WOOTHEE_UNKNOWN && !version.is_empty() && version.chars().all(is_token_char))
        .then(|| version.to_owned())
}

/// The leading number of a version ("120.0.6099" -> 120); None when there is
/// none or it does not fit.
fn major_of(version: &str) -> Option<u32> {
    let end = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    version[..end].parse().ok()
}

/// The first `name/version` product outside comments, skipping "Mozilla",
/// which every browser-like agent starts with and so names nothing.
fn product_token(ua: &str) -> Option<(&str, &str)> {
    words_outside_comments(ua).into_iter().find_map(|word| {
        let (name, version) = word.split_once('/')?;
        let valid = |s: &str| !s.is_empty() && s.chars().all(is_token_char);
        (valid(name)
            && valid(version)
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !name.eq_ignore_ascii_case("Mozilla"))
        .then_some((name, version))
    })
}

/// The whitespace-separated words of `ua` outside parenthesised comments,
/// where platform details live ("(iPhone; iOS 17.1; Scale/3.00)") that are
/// not the product.
fn words_outside_comments(ua: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (i, c) in ua.char_indices() {
        let separator = c.is_whitespace() || c == '(' || c == ')';
        if depth == 0 && !separator {
            start.get_or_insert(i);
            continue;
        }
        if let Some(from) = start.take() {
            words.push(&ua[from..i]);
        }
        match c {
            '(' => depth = depth.saturating_add(1),
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(from) = start {
        words.push(&ua[from..]);
    }
    words
}

/// Whether `c` can stand for itself in an encoded family: printable ASCII
/// other than the format's separators and the escape character.
fn is_plain(c: char) -> bool {
    (c.is_ascii_graphic() || c == ' ') && !matches!(c, '%' | '/' | ';')
}

/// `family` with every character that could break the format as `%XX` per
/// UTF-8 byte.
fn escape(family: &str) -> String {
    let mut text = String::with_capacity(family.len());
    for c in family.chars() {
        if is_plain(c) {
            text.push(c);
        } else {
            for byte in c.encode_utf8(&mut [0; 4]).bytes() {
                // Writing to a String cannot fail.
                let _ = write!(text, "%{byte:02X}");
            }
        }
    }
    text
}

/// Inverse of [`escape`]; None for a broken escape or bytes that are not
/// UTF-8.
fn unescape(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        if byte == b'%' {
            let hex = [rest.next()?, rest.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

/// The longest front of `family` whose escaped form fits a binding, cut at a
/// character so it stays text.
fn fit_family(family: &str) -> String {
    let mut fitted = String::new();
    let mut encoded = 0;
    for c in family.chars() {
        encoded += if is_plain(c) { 1 } else { 3 * c.len_utf8() };
        if encoded > FAMILY_MAX_ENCODED {
            break;
        }
        fitted.push(c);
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        ua: &'static str,
        family: &'static str,
        major: Option<u32>,
        os: &'static str,
        label: &'static str,
    }

    const fn case(
        ua: &'static str,
        family: &'static str,
        major: Option<u32>,
        os: &'static str,
        label: &'static str,
    ) -> Case {
        Case {
            ua,
            family,
            major,
            os,
            label,
        }
    }

    const CASES: &[Case] = &[
        case(
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox",
            Some(121),
            "Linux",
            "Firefox on Linux",
        ),
        case(
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            "Firefox",
            Some(120),
            "Linux",
            "Firefox on Linux",
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox",
            Some(121),
            "Windows",
            "Firefox on Windows",
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            Some(120),
            "Windows",
            "Chrome on Windows",
        ),
        case(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like \
             Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            Some(120),
            "macOS",
            "Chrome on macOS",
        ),
        case(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.2 Safari/605.1.15",
            "Safari",
            Some(17),
            "macOS",
            "Safari on macOS",
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            "Edge",
            Some(120),
            "Windows",
            "Edge on Windows",
        ),
        case(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            "Opera",
            Some(106),
            "Windows",
            "Opera on Windows",
        ),
        case(
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            Some(120),
            "ChromeOS",
            "Chrome on ChromeOS",
        ),
        case(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.6099.144 Mobile Safari/537.36",
            "Chrome",
            Some(120),
            "Android",
            "Chrome on Android",
        ),
        case(
            "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) \
             SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            "Samsung Internet",
            Some(23),
            "Android",
            "Samsung Internet on Android",
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
             like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Safari",
            Some(17),
            "iOS",
            "Safari on iOS",
        ),
        case(
            "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Safari",
            Some(17),
            "iOS",
            "Safari on iOS",
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
             like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            "Chrome",
            Some(120),
            "iOS",
            "Chrome on iOS",
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
             like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
            "Firefox",
            Some(121),
            "iOS",
            "Firefox on iOS",
        ),
        case(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
             like Gecko) Mobile/15E148",
            "WebView",
            None,
            "iOS",
            "WebView on iOS",
        ),
        case(
            "latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)",
            "latchkey-demo",
            Some(1),
            "iOS",
            "latchkey-demo/1.2 on iOS",
        ),
        case(
            "MyApp/3.4.1 CFNetwork/1410.0.3 Darwin/22.6.0",
            "MyApp",
            Some(3),
            "iOS",
            "MyApp/3.4.1 on iOS",
        ),
        case(
            "MyApp/1.0 (Macintosh; OS X 14.2) CFNetwork/1485 Darwin/23.2.0",
            "MyApp",
            Some(1),
            "macOS",
            "MyApp/1.0 on macOS",
        ),
        case("okhttp/4.12.0", "okhttp", Some(4), UNKNOWN, "okhttp/4.12.0"),
        case(
            "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)",
            "Dalvik",
            Some(2),
            "Android",
            "Dalvik/2.1.0 on Android",
        ),
        case("curl/8.5.0", "curl", Some(8), UNKNOWN, "curl/8.5.0"),
        case(
            "python-requests/2.31.0",
            "python-requests",
            Some(2),
            UNKNOWN,
            "python-requests/2.31.0",
        ),
        case(
            "Go-http-client/1.1",
            "Go-http-client",
            Some(1),
            UNKNOWN,
            "Go-http-client/1.1",
        ),
        case(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Googlebot",
            None,
            UNKNOWN,
            "Googlebot",
        ),
        case("Mozilla/5.0", UNKNOWN, None, UNKNOWN, "Unknown device"),
        case(
            "Mozilla/5.0 (Linux; Android 13)",
            UNKNOWN,
            None,
            "Android",
            "Unknown device on Android",
        ),
        case("", UNKNOWN, None, UNKNOWN, "Unknown device"),
        case("!!!", UNKNOWN, None, UNKNOWN, "Unknown device"),
    ];

    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
                                Gecko) Chrome/120.0.0.0 Safari/537.36";

    fn binding(ua: &str) -> AgentBinding {
        AgentBinding::of(Some(ua))
    }

    #[test]
    fn parses_real_agents() {
        for c in CASES {
            let device = Device::parse(c.ua);
            assert_eq!(device.family, c.family, "family of {:?}", c.ua);
            assert_eq!(device.major, c.major, "major of {:?}", c.ua);
            assert_eq!(device.os, c.os, "os of {:?}", c.ua);
            assert_eq!(device.label(), c.label, "label of {:?}", c.ua);
            assert_eq!(device_label(Some(c.ua)), c.label);
        }
    }

    #[test]
    fn browsers_and_apps_are_told_apart() {
        let firefox = Device::parse(FIREFOX_LINUX);
        assert!(firefox.is_browser);
        assert_eq!(firefox.version.as_deref(), Some("120.0"));

        let app = Device::parse("latchkey-demo/1.2 (iPhone; iOS 17.1; Scale/3.00)");
        assert!(!app.is_browser);
        assert_eq!(app.version.as_deref(), Some("1.2"));

        let bare = Device {
            version: None,
            ..app
        };
        assert_eq!(bare.label(), "latchkey-demo on iOS");
    }

    #[test]
    fn missing_agent_is_an_unknown_device() {
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(device_label(Some("")), "Unknown device");
        assert_eq!(device_label(Some("   ")), "Unknown device");
    }

    #[test]
    fn binding_follows_updates_forward() {
        let bound = binding(FIREFOX_LINUX);
        assert_eq!(bound.encode(), "Firefox/120;Linux");
        assert!(bound.permits(&bound));
        // A patch release changes the version text, not the major.
        let patch =
            binding("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.1.3");
        assert!(bound.permits(&patch));
        let newer =
            binding("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0");
        assert!(bound.permits(&newer));
    }

    #[test]
    fn binding_refuses_other_clients() {
        let bound = binding(FIREFOX_LINUX);
        let older =
            binding("Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0");
        assert!(!bound.permits(&older));
        assert!(!bound.permits(&binding(CHROME_LINUX)));
        let windows = binding(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
        );
        assert!(!bound.permits(&windows));

        let none = AgentBinding::of(None);
        assert!(!bound.permits(&none));
        assert!(!none.permits(&bound));
        assert!(none.permits(&AgentBinding::of(Some(""))));
        assert_eq!(none.encode(), "-");
    }

    #[test]
    fn versionless_family_matches_only_versionless() {
        let mk = |major| {
            AgentBinding(Some(Agent {
                family: "Googlebot".to_owned(),
                os: UNKNOWN.to_owned(),
                major,
            }))
        };
        assert!(mk(None).permits(&mk(None)));
        assert!(!mk(None).permits(&mk(Some(2))));
        assert!(!mk(Some(2)).permits(&mk(None)));
    }

    #[test]
    fn binding_round_trips() {
        for c in CASES {
            let bound = binding(c.ua);
            let text = bound.encode();
            assert!(text.len() <= BINDING_MAX_BYTES, "{text:?}");
            assert_eq!(AgentBinding::decode(&text), Some(bound), "{:?}", c.ua);
        }
        assert_eq!(
            binding(CASES[10].ua).encode(),
            "Samsung Internet/23;Android"
        );
        assert_eq!(AgentBinding::decode("-"), Some(AgentBinding::of(None)));
    }

    #[test]
    fn binding_escapes_separators() {
        let odd = AgentBinding(Some(Agent {
            family: "a/b;c%d é\u{0}".to_owned(),
            os: "iOS".to_owned(),
            major: Some(7),
        }));
        let text = odd.encode();
        assert_eq!(text, "a%2Fb%3Bc%25d %C3%A9%00/7;iOS");
        assert_eq!(AgentBinding::decode(&text), Some(odd));
    }

    #[test]
    fn binding_caps_long_families() {
        let ua = format!("{}/1.0", "x".repeat(300));
        let text = binding(&ua).encode();
        assert!(text.len() <= BINDING_MAX_BYTES, "{text:?}");
        assert_eq!(AgentBinding::decode(&text), Some(binding(&ua)));
    }

    #[test]
    fn binding_decode_rejects_garbage() {
        let long = format!("{};Linux", "F".repeat(100));
        for text in [
            "",
            "--",
            "Firefox",
            "Firefox/120",
            "Firefox/120;",
            "Firefox/120;Mars",
            "Firefox/120;linux",
            "Firefox/120;Linux;",
            "Firefox/;Linux",
            "Firefox/x;Linux",
            "Firefox/-1;Linux",
            "Firefox/+120;Linux",
            "Firefox/0120;Linux",
            "Firefox/99999999999;Linux",
            "Firefox/1/2;Linux",
            ";Linux",
            "/120;Linux",
            "Fire%2ffox;Linux",
            "Fire%ZZfox;Linux",
            "Firefox%2;Linux",
            "Fire%FFfox;Linux",
            "Fire\nfox;Linux",
            "Fire fox ;Linux ",
            long.as_str(),
        ] {
            assert_eq!(AgentBinding::decode(text), None, "{text:?}");
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_binds_to_slash_24() {
        let bound = NetworkBinding::of(ip("203.0.113.7"));
        assert_eq!(bound.encode(), "203.0.113.0/24");
        assert_eq!(bound.to_string(), "203.0.113.0/24");
        assert_eq!(bound, NetworkBinding::of(ip("203.0.113.200")));
        assert!(bound.contains(ip("203.0.113.200")));
        assert_ne!(bound, NetworkBinding::of(ip("203.0.114.1")));
        assert!(!bound.contains(ip("203.0.114.1")));
    }

    #[test]
    fn ipv6_binds_to_slash_56() {
        let bound = NetworkBinding::of(ip("2001:db8:1:2ff::1"));
        assert_eq!(bound.encode(), "2001:db8:1:200::/56");
        assert_eq!(bound, NetworkBinding::of(ip("2001:db8:1:200::5")));
        assert!(bound.contains(ip("2001:db8:1:200::5")));
        assert_ne!(bound, NetworkBinding::of(ip("2001:db8:1:300::1")));
        assert!(!bound.contains(ip("2001:db8:1:300::1")));
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let plain = NetworkBinding::of(ip("203.0.113.7"));
        assert_eq!(NetworkBinding::of(ip("::ffff:203.0.113.7")), plain);
        assert!(plain.contains(ip("::ffff:203.0.113.99")));
    }

    #[test]
    fn network_round_trips_and_rejects_non_networks() {
        for addr in ["203.0.113.7", "2001:db8:1:2ff::1", "::1", "10.0.0.1"] {
            let bound = NetworkBinding::of(ip(addr));
            assert_eq!(NetworkBinding::decode(&bound.encode()), Some(bound));
        }
        for text in [
            "1.2.3.4",
            "1.2.3.0/16",
            "1.2.3.0/32",
            "1.2.3.7/24",
            "2001:db8::/64",
            "2001:db8::/24",
            "2001:db8:0:1::/56",
            "2001:0db8::/56",
            "nonsense",
            "",
            "/24",
        ] {
            assert_eq!(NetworkBinding::decode(text), None, "{text:?}");
        }
    }

    #[test]
    fn parse_never_panics() {
        let huge = "a".repeat(100 * 1024);
        let huge_token = format!("app/{}", "9".repeat(100 * 1024));
        let multibyte = "é".repeat(600);
        for ua in [
            "",
            huge.as_str(),
            huge_token.as_str(),
            multibyte.as_str(),
            "\u{0}\u{1}/;",
            "/",
            "a/",
            "/1.2",
            "é/é",
            "((((((",
            "))))))a/1",
            "Mozilla/5.0 (",
            "%%%;;;///",
            "\u{feff}\u{202e}Firefox/1",
        ] {
            let device = Device::parse(ua);
            assert!(!device.label().is_empty());
            assert!(device.family.len() <= TOKEN_MAX_BYTES, "{ua:?}");
            let bound = binding(ua);
            assert_eq!(AgentBinding::decode(&bound.encode()), Some(bound), "{ua:?}");
        }
        assert_eq!(Device::parse("a/").family, UNKNOWN);
        assert_eq!(Device::parse("/1.2").family, UNKNOWN);
        assert_eq!(Device::parse("é/é").family, UNKNOWN);
        assert_eq!(
            Device::parse(&huge_token).version.map(|v| v.len()),
            Some(TOKEN_MAX_BYTES)
        );
    }
}
