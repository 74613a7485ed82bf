"""A thin remote for headless Chromium (tests/share/web.rs): one JSON command per line on stdin, one
JSON answer per line on stdout. The test does the asserting; this only drives the browser.

Commands: open URL; type TEXT (keys to the focused element); click ID; eval JS (the value of
`return ...`); wait JS TIMEOUT (until it is truthy); shot PATH (a PNG screenshot);
resources (every URL the page loaded); quit.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-extensions",
        "--user-data-dir=" + profile, "--window-size=900,520",
        # The https tests' server certificate comes from a CA made at run time.
        "--ignore-certificate-errors",
        # Nothing but the server: every other host fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def main():
    d = browser(sys.argv[1])
    d.set_page_load_timeout(20)
    print(json.dumps({"ok": "ready"}), flush=True)
    for line in sys.stdin:
        c = json.loads(line)
        op = c["op"]
        try:
            if op == "open":
                d.get(c["url"])
                r = d.title
            elif op == "type":
                d.switch_to.active_element.send_keys(c["text"])
                r = True
            elif op == "click":
                d.find_element(By.ID, c["id"]).click()
                r = True
            elif op == "eval":
                r = d.execute_script(c["js"])
            elif op == "wait":
                end = time.time() + c.get("timeout", 10)
                r = d.execute_script(c["js"])
                while not r and time.time() < end:
                    time.sleep(0.02)
                    r = d.execute_script(c["js"])
                if not r:
                    raise TimeoutError("timed out waiting for " + c["js"])
            elif op == "shot":
                r = d.save_screenshot(c["path"])
            elif op == "resources":
                r = d.execute_script(
                    "return [location.href].concat(performance.getEntriesByType('resource')"
                    ".map(e => e.name))")
            elif op == "console":
                r = [e["message"] for e in d.get_log("browser")]
            elif op == "quit":
                break
            else:
                raise ValueError("unknown op " + op)
            print(json.dumps({"ok": r}), flush=True)
        except Exception as e:  # the test shows it
            print(json.dumps({"err": type(e).__name__ + ": " + str(e)}), flush=True)
    d.quit()


main()
