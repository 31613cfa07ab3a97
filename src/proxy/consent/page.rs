//! The built-in consent page: plain HTML, no script, no external resource but the optional
//! logo, one nonce'd style sheet. Approve ignores the pointer until the user has been on the
//! page for 0.8 s: it is inert at rest, and a CSS animation that runs only while the pointer is
//! over the page's panel or focus is inside it (`main:hover`, `main:focus-within`) arms it at
//! its end, so the CSP needs no script. A page that opens this one under the user's second
//! click of a double-click cannot have that click approve, and neither can a page that loaded
//! it in advance: the animation starts over each time the pointer comes back. Keyboard
//! activation is not held back (CSS cannot stop it without hiding the button); it needs the
//! user to move focus to Approve first.

use std::fmt::Write as _;

use super::ConsentView;

pub(crate) fn render(v: &ConsentView) -> String {
    let mut out = String::with_capacity(6 * 1024);
    // Writing to a String cannot fail.
    let _ = write_page(&mut out, v);
    out
}

fn write_page(out: &mut String, v: &ConsentView) -> std::fmt::Result {
    write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>Allow access? \u{b7} {server}</title>\n<style nonce=\"{nonce}\">\n",
        server = v.server_name,
        nonce = v.style_nonce,
    )?;
    write!(
        out,
        "*{{box-sizing:border-box}}\n\
         body{{margin:0;padding:1rem;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
         background:{bg};color:{text}}}\n\
         main{{max-width:36rem;margin:1rem auto;padding:1.5rem;border:1px solid rgba(127,127,127,.45);\
         border-radius:12px}}\n\
         .logo{{display:block;max-height:48px;max-width:12rem;margin-bottom:.5rem}}\n\
         h1{{font-size:1.4rem;line-height:1.3;margin:.25rem 0 .75rem}}\n\
         h2{{font-size:1rem;margin:1.25rem 0 .25rem}}\n\
         .host{{font-size:1.2rem;font-weight:700;margin:.25rem 0;overflow-wrap:anywhere}}\n\
         code{{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}}\n\
         .warning{{border-left:4px solid #b45309;background:#fef3c7;color:#451a03;\
         padding:.5rem .75rem;margin:.75rem 0}}\n\
         ul{{padding-left:1.25rem}}\n\
         .actions{{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.25rem}}\n\
         button{{font:inherit;font-weight:600;padding:.6rem 1.5rem;border-radius:8px;\
         border:2px solid {accent};cursor:pointer}}\n\
         #approve{{background:{accent};color:#fff;pointer-events:none;opacity:.55}}\n\
         main:hover #approve,main:focus-within #approve{{animation:arm .8s linear forwards}}\n\
         @keyframes arm{{from,99.9%{{pointer-events:none;opacity:.55}}to{{pointer-events:auto;opacity:1}}}}\n\
         .verified{{font-weight:700;overflow-wrap:anywhere}}\n\
         #deny{{background:transparent;color:inherit}}\n\
         button:focus-visible{{outline:3px solid {accent};outline-offset:2px}}\n\
         .note{{font-size:.875rem}}\n</style>\n</head>\n<body>\n<main>\n",
        bg = v.background_color,
        text = v.text_color,
        accent = v.accent_color,
    )?;
    if let Some(logo) = &v.logo_url {
        writeln!(
            out,
            "<img class=\"logo\" src=\"{logo}\" alt=\"{} logo\">",
            v.server_name
        )?;
    }
    writeln!(
        out,
        "<h1>Allow {client} to use {server} with your account?</h1>",
        client = v.client_name,
        server = v.server_name,
    )?;
    if v.client_name_verified {
        writeln!(
            out,
            "<p>This application is configured by the operator of {}.</p>",
            v.server_name
        )?;
    } else if let Some(domain) = &v.verified_domain {
        writeln!(
            out,
            "<p>Verified domain: <span class=\"verified\" id=\"verified-domain\">{domain}</span></p>\n\
             <p>The application is published at this domain; the name above is the one it \
             chose and is not verified.</p>"
        )?;
    } else {
        out.push_str(
            "<p>The application chose this name itself; it is not verified. \
             The address below is what tells you where your sign-in goes.</p>\n",
        );
    }
    write!(
        out,
        "<section aria-labelledby=\"destination\">\n\
         <h2 id=\"destination\">Your sign-in will be sent to</h2>\n\
         <p class=\"host\" id=\"redirect-host\">{host}</p>\n",
        host = v.redirect_host,
    )?;
    if v.redirect_is_loopback {
        out.push_str("<p>An application on this computer.</p>\n");
    }
    writeln!(
        out,
        "<p>Full address: <code id=\"redirect-uri\">{}</code></p>",
        v.redirect_uri
    )?;
    if let Some(warning) = &v.local_only_warning {
        writeln!(
            out,
            "<div class=\"warning\" role=\"alert\" id=\"local-only\"><p>{warning}</p></div>"
        )?;
    }
    if let Some(warning) = &v.redirect_warning {
        writeln!(
            out,
            "<div class=\"warning\" role=\"alert\"><p><strong>Check this address.</strong> \
             {warning}</p></div>"
        )?;
    }
    out.push_str(
        "</section>\n<section aria-labelledby=\"access\">\n\
         <h2 id=\"access\">It asks to</h2>\n<ul>\n",
    );
    for scope in &v.scopes {
        let before = if scope.approved_before {
            " <span class=\"before\">(approved before)</span>"
        } else {
            ""
        };
        match &scope.description {
            Some(d) => writeln!(out, "<li>{d} (<code>{}</code>){before}</li>", scope.name)?,
            None => writeln!(out, "<li><code>{}</code>{before}</li>", scope.name)?,
        }
    }
    write!(
        out,
        "</ul>\n</section>\n\
         <p id=\"advice\">Approve only if you started this sign-in yourself and you recognise \
         both the application and the address above.</p>\n\
         <form method=\"post\" action=\"{action}\" aria-describedby=\"advice\">\n{hidden}\n\
         <div class=\"actions\">\n\
         <button type=\"submit\" id=\"approve\" name=\"action\" value=\"approve\">Approve</button>\n\
         <button type=\"submit\" id=\"deny\" name=\"action\" value=\"deny\">Deny</button>\n\
         </div>\n</form>\n",
        action = v.form_action,
        hidden = v.hidden_inputs,
    )?;
    if let Some(days) = v.remember_days {
        let unit = if days == 1 { "day" } else { "days" };
        writeln!(
            out,
            "<p class=\"note\">If you approve, this browser will not ask again for {days} {unit} \
             for this application and address.</p>"
        )?;
    }
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(())
}
