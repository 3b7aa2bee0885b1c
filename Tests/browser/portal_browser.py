#!/usr/bin/env python3
"""The portal in a real browser: headless Chromium driven by Selenium (Debian's chromium + chromium-driver).

Logs in, uploads a public key file on the slice page, boots a node live from its page, watches the steps stream in
(Server-Sent Events) and waits for the ssh line; then boots an image that cannot boot and waits for the failure with
the server's screenshot shown above the steps. Saves screenshots of the dashboard and of the node page mid-boot
and at the end. Exits non-zero with a message on the first thing that is not as a user would see it.
"""
import argparse
import os
import subprocess
import sys
import traceback
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--slice", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--failing-image", required=True)
    parser.add_argument("--batch-nodes", required=True, help="nodes the slice holds, booted together from the slice page")
    parser.add_argument("--outage-url", required=True, help="the simulator's /sim/outage of the batch node made to fail")
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 30)
    shot = lambda name: driver.save_screenshot(os.path.join(args.screenshots, name))
    try:
        # Anonymous: sent to the login page.
        driver.get(args.url + "/")
        wait.until(EC.url_contains("/login"))
        driver.find_element(By.NAME, "name").send_keys(args.user)
        driver.find_element(By.NAME, "password").send_keys(args.password)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.ID, "node-rows")))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-node="{args.node}"]')))
        check(args.user in driver.find_element(By.CSS_SELECTOR, ".who").text, "the header names the user")
        shot("dashboard.png")

        # The Leases page: the timeline shows the slice's lease of the node as a block.
        driver.get(f"{args.url}/leases")
        block = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'g.row[data-node="{args.node}"] rect.lease.mine')))
        check(block.size["width"] > 5, "the lease's block is drawn")
        shot("leases.png")

        # Upload the key file: the page's script reads it into the text area, the form sends it.
        driver.get(f"{args.url}/slices/{args.slice}")
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(os.path.abspath(args.key_file))
        wait.until(lambda d: "ssh-" in d.find_element(By.NAME, "keys").get_attribute("value"))
        driver.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
        notice = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok"))).text
        check("1 key added" in notice, f"key upload notice: {notice!r}")
        fingerprint = subprocess.run(["ssh-keygen", "-lf", args.key_file], capture_output=True, text=True, check=True).stdout.split()[1]
        check(fingerprint in driver.find_element(By.CSS_SELECTOR, "table.keys").text, f"fingerprint {fingerprint} listed")

        # Boot live from the node page; the confirmation dialog is accepted.
        driver.get(f"{args.url}/nodes/{args.node}")
        Select(driver.find_element(By.NAME, "image")).select_by_value(args.image)
        driver.find_element(By.CSS_SELECTOR, "#liveboot-form button[type=submit]").click()
        WebDriverWait(driver, 5).until(EC.alert_is_present()).accept()
        wait.until(EC.url_contains("operation="))
        # Steps stream in while the node boots.
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#steps li")) >= 4)
        steps = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#steps li")]
        check(driver.find_element(By.ID, "operation-state").text == "running", f"mid-boot state: {steps}")
        shot("node-mid-boot.png")
        # The Console panel during the boot: the kernel's lines (replayed if they came before the click) and the login
        # prompt, in a real xterm.js; she has the keyboard, and what she types reaches the node (its echo comes back).
        readiness = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "console-readiness").get_attribute("data-ready") and d.find_element(By.ID, "console-readiness").text)
        check("BIOS SerialComm is OnNoConRedir, wants OnConRedir" in readiness and "lb console --setup" in readiness, f"readiness: {readiness!r}")
        # The steps above the panel still grow while the node boots: a click aimed at Connect can land on whatever moved
        # under it, so it is clicked again (as a person would) until the panel says it is connecting.
        for _ in range(5):
            driver.execute_script("document.getElementById('console').scrollIntoView()")
            driver.find_element(By.ID, "console-connect").click()
            try:
                WebDriverWait(driver, 3).until(lambda d: not d.find_element(By.ID, "console-state").text.startswith("Not connected"))
                break
            except TimeoutException:
                continue
        wait.until(lambda d: "you have the keyboard" in d.find_element(By.ID, "console-state").text)
        transcript = lambda d: d.execute_script("return document.getElementById('console-transcript').textContent")
        WebDriverWait(driver, 60).until(lambda d: "Command line: BOOT_IMAGE=/casper/vmlinuz" in transcript(d))
        WebDriverWait(driver, 60).until(lambda d: "login: " in transcript(d))
        check(driver.find_elements(By.CSS_SELECTOR, "#terminal .xterm"), "xterm.js drew the terminal")
        driver.find_element(By.CSS_SELECTOR, "#terminal textarea").send_keys("root")
        WebDriverWait(driver, 10).until(lambda d: transcript(d).rstrip().endswith("login: root"))
        driver.execute_script("document.getElementById('console').scrollIntoView()")
        shot("node-console.png")
        ssh = WebDriverWait(driver, 90).until(EC.visibility_of_element_located((By.ID, "ssh-line"))).text
        check("ssh root@" in ssh, f"ssh line: {ssh!r}")
        steps = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#steps li")]
        for expected in ("live boot on", "answers as a BMC needs", "slot 1 ←", "slot 2 ←", "one-time boot", "ssh answers", "ready: ssh root@"):
            check(any(expected in s for s in steps), f"step {expected!r} in {steps}")
        check(driver.find_element(By.ID, "operation-state").text == "succeeded", "final state")
        # What the BMC read, filled in from the page the "done" event fetches again: no reload.
        media = WebDriverWait(driver, 10).until(EC.visibility_of_element_located((By.ID, "media-read"))).text
        check(f"image {args.image}" in media and "seed cidata-" in media and "/s" in media, f"media read: {media!r}")
        # The boot's console log, brought by the "done" event: its last lines, and the whole as text.
        log = WebDriverWait(driver, 10).until(EC.visibility_of_element_located((By.ID, "console-log"))).text
        check("Cloud-init v. 24.1 finished" in log and "the whole log as text" in log, f"console log: {log!r}")
        shot("node-booted.png")

        # An image without a boot record: the node boots its disk, never reports; the page ends on the failure and
        # the iDRAC's screenshot, both above the steps, without a reload (the "done" event brings them).
        driver.get(f"{args.url}/nodes/{args.node}")
        Select(driver.find_element(By.NAME, "image")).select_by_value(args.failing_image)
        driver.find_element(By.CSS_SELECTOR, "#liveboot-form button[type=submit]").click()
        WebDriverWait(driver, 5).until(EC.alert_is_present()).accept()
        wait.until(EC.url_contains("operation="))
        WebDriverWait(driver, 90).until(lambda d: d.find_element(By.ID, "operation-state").text == "failed")
        error = driver.find_element(By.ID, "operation-error").text
        check("never reported" in error, f"failure message: {error!r}")
        image = WebDriverWait(driver, 10).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#screenshot img")))
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        check(driver.execute_script("return arguments[0].naturalWidth", image) == 480, "the screenshot is a decoded image")
        check(image.location["y"] < driver.find_element(By.ID, "steps").location["y"], "the screenshot comes before the steps")
        shot("node-failed.png")

        # The slice page: every node held, ticked; boot them live together; one (its BMC restarting) fails; once its
        # BMC is back, "retry the failed ones" boots exactly that one.
        batch = args.batch_nodes.split(",")
        driver.get(f"{args.url}/slices/{args.slice}")
        for node in batch:
            check(driver.find_element(By.CSS_SELECTOR, f'input[name="nodes[]"][value="{node}"]').is_selected(), f"{node} ticked")
        Select(driver.find_element(By.NAME, "action")).select_by_value("liveboot")
        Select(driver.find_element(By.CSS_SELECTOR, "#run-form select[name=image]")).select_by_value(args.image)
        driver.find_element(By.CSS_SELECTOR, "#run-form button[type=submit]").click()
        WebDriverWait(driver, 5).until(EC.alert_is_present()).accept()
        wait.until(EC.url_contains("/run"))
        WebDriverWait(driver, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#batch [data-done]"))
        states = {row.get_attribute("data-node"): row.get_attribute("data-state") for row in driver.find_elements(By.CSS_SELECTOR, "#batch tr[data-node]")}
        failing = batch[-1]
        check(states == {**{n: "succeeded" for n in batch[:-1]}, failing: "failed"}, f"batch states: {states}")
        shot("batch-one-failed.png")
        urllib.request.urlopen(urllib.request.Request(args.outage_url + "?down=0", method="POST"))
        old_grid = driver.find_element(By.ID, "batch")
        driver.find_element(By.CSS_SELECTOR, "#retry-failed button").click()
        # The click returns before the new page: wait until the old grid is gone, then for the new one to finish.
        WebDriverWait(driver, 30).until(EC.staleness_of(old_grid))
        WebDriverWait(driver, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#batch [data-done]"))
        states = {row.get_attribute("data-node"): row.get_attribute("data-state") for row in driver.find_elements(By.CSS_SELECTOR, "#batch tr[data-node]")}
        check(states == {failing: "succeeded"}, f"retried: {states}")
        shot("batch-retried.png")
        print("browser: ok —", ssh, "—", len(steps), "steps; failure shown with its screenshot; batch of", len(batch), "retried")
    except (TimeoutException, AssertionError) as error:
        shot("failure.png")
        print("browser: FAILED:", error or "timeout", "at", driver.current_url, file=sys.stderr)
        traceback.print_exc(limit=2, file=sys.stderr)
        # The console panel is below the first 2000 characters: its state and what it received, said first.
        for element in ("console-state", "console-transcript"):
            found = driver.find_elements(By.ID, element)
            print(element + ":", repr(found[0].get_attribute("textContent")[-600:]) if found else "(none)", file=sys.stderr)
        print(driver.find_element(By.TAG_NAME, "body").text[:2000], file=sys.stderr)
        sys.exit(1)
    finally:
        driver.quit()


def check(condition, what):
    if not condition:
        raise AssertionError(what)


if __name__ == "__main__":
    main()
