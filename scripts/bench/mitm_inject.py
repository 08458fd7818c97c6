"""mitmproxy addon equivalent to `plainsight inject`: insert the advertisement at the
start of <body> in HTML responses (used only by scripts/bench-proxy.sh)."""
import pathlib

AD = (pathlib.Path(__file__).resolve().parents[2] / "lab" / "ad.html").read_text()


def response(flow):
    ct = flow.response.headers.get("content-type", "")
    if "text/html" in ct and flow.response.content:
        text = flow.response.get_text()
        i = text.find("<body")
        if i >= 0:
            j = text.find(">", i) + 1
            flow.response.set_text(text[:j] + AD + text[j:])
