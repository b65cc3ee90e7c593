package api_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/notebridge/notebridge/gateway/jobs"
)

// chromiumPath is Debian's chromium; `make browser` installs it.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium that reaches nothing on its own:
// no background networking, component updates, sync or first-run pages.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: run `make browser` to install Debian's chromium (%v)", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	// A bound on the whole test, so a broken page fails instead of hanging.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// void drops an action's value, so it can be one of several steps.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// waitFor polls a JavaScript condition in the page.
func waitFor(cond string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond)))
}

// sendFromForm fills the try-it form, clicks "Send" and waits for the
// whole answer to be shown (a stream ended, a job finished).
func sendFromForm(body string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetValue(chromedp.CSS("#try-body"), body),
		void(chromedp.Evaluate[any](`document.querySelector("#try-status").dataset.state = ""`)),
		chromedp.Click(chromedp.CSS("#try-send")),
		waitFor(`document.querySelector("#try-status").dataset.state === "done"`),
	)
}

// openVersion loads /docs#name/vN and waits for its form.
func openVersion(base, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/docs#"+name+"/v1"),
		chromedp.WaitVisible(chromedp.CSS("#try-send")),
	)
}

// verdict is the status line's text and its colour class ("ok" green,
// "bad" red, "" neither).
func verdict(ctx context.Context, t *testing.T) (text, class string) {
	t.Helper()
	text = texts(ctx, t, "#try-status")[0]
	class, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#try-status").className`))
	if err != nil {
		t.Fatal(err)
	}
	return text, class
}

// texts reads the text of each CSS selector.
func texts(ctx context.Context, t *testing.T, selectors ...string) []string {
	t.Helper()
	out := make([]string, len(selectors))
	for i, sel := range selectors {
		var err error
		if out[i], err = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
	}
	return out
}

func TestDocsPageInBrowser(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	base := g.listen(t)
	ctx := browser(t)

	var mu sync.Mutex
	var requested []string
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	v1 := chromedp.CSS(`button.version[data-contract="echo"][data-version="1"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/docs"),
		chromedp.WaitVisible(v1),
	); err != nil {
		t.Fatal(err)
	}
	live := texts(ctx, t, `[data-live="echo/v1"]`, `[data-live="echo/v2"]`)
	if live[0] != "1 worker(s)" || live[1] != "no worker" {
		t.Errorf("liveness: got v1 %q, v2 %q; want \"1 worker(s)\", \"no worker\"", live[0], live[1])
	}
	if err := chromedp.Do(ctx, chromedp.Click(v1), chromedp.WaitVisible(chromedp.CSS("#try-send"))); err != nil {
		t.Fatal(err)
	}
	firstExample, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#try-body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(firstExample, `"text": "hello"`) {
		t.Errorf("got the form filled with %q; want the first example", firstExample)
	}

	t.Run("reply", func(t *testing.T) {
		if err := chromedp.Do(ctx, sendFromForm(`{"text": "hello from chromium"}`)); err != nil {
			t.Fatal(err)
		}
		got := texts(ctx, t, "#try-status", "#try-output")
		if !strings.HasPrefix(got[0], "200 ") || !strings.Contains(got[1], `"text": "hello from chromium"`) {
			t.Errorf("got status %q output %q; want 200 and the echo", got[0], got[1])
		}
	})
	t.Run("example number keeps its digits", func(t *testing.T) {
		err := chromedp.Do(ctx,
			void(chromedp.Evaluate[any](`(() => { const s = document.querySelector("#try-example"); s.value = "1"; s.dispatchEvent(new Event("change")); })()`)),
			chromedp.Click(chromedp.CSS("#try-send")),
			waitFor(`document.querySelector("#try-output").textContent.includes("12345678901234567890.125")`),
		)
		if err != nil {
			got := texts(ctx, t, "#try-body", "#try-output")
			t.Fatalf("%v (form body %q, output %q)", err, got[0], got[1])
		}
	})
	t.Run("problem", func(t *testing.T) {
		if err := chromedp.Do(ctx, sendFromForm(`{"colour": "red"}`)); err != nil {
			t.Fatal(err)
		}
		got := texts(ctx, t, "#try-status", "#try-errors", "#try-output")
		status, errs, output := got[0], got[1], got[2]
		if !strings.HasPrefix(status, "422 ") || !strings.Contains(status, "Request breaks the contract") {
			t.Errorf("got status %q; want 422 Request breaks the contract", status)
		}
		for _, want := range []string{"additionalProperties 'colour' not allowed", `missing required property "text"`} {
			if !strings.Contains(errs, want) {
				t.Errorf("got errors %q; want one saying %q", errs, want)
			}
		}
		if !strings.Contains(output, "urn:notebridge:problem:invalid-request") {
			t.Errorf("got output %q; want the problem document", output)
		}
	})

	mu.Lock()
	defer mu.Unlock()
	if len(requested) < 4 {
		t.Errorf("saw %d requests; want the page, /api, /api/echo/v1 and the calls", len(requested))
	}
	for _, u := range requested {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s; want nothing beyond the gateway", u)
		}
	}
}

func TestDocsPageShowsStreamsAsTheyCome(t *testing.T) {
	g := newGatewayWith(t, streamContracts(t))
	g.serve(t, "tokens", []int{1})
	base := g.listen(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, openVersion(base, "tokens")); err != nil {
		t.Fatal(err)
	}

	t.Run("chunks shown live, then green at the end", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#try-body"), `{"text": "one two three", "delay_ms": 400}`),
			chromedp.Click(chromedp.CSS("#try-send")),
			// The first chunk is on the page while the stream still runs.
			waitFor(`document.querySelectorAll("#try-output .chunk").length >= 1 && document.querySelector("#try-status").dataset.state === "pending"`),
			waitFor(`document.querySelector("#try-status").dataset.state === "done"`),
		)
		if err != nil {
			t.Fatal(err)
		}
		text, class := verdict(ctx, t)
		if class != "ok" || !strings.Contains(text, "ended after 3 chunk(s)") {
			t.Errorf("got status %q (class %q); want green, ended after 3 chunk(s)", text, class)
		}
		if out := texts(ctx, t, "#try-output")[0]; !strings.Contains(out, `chunk 3  {"text":"three `) {
			t.Errorf("got output %q; want every chunk", out)
		}
	})
	t.Run("a failing stream is red though it began with 200", func(t *testing.T) {
		if err := chromedp.Do(ctx, sendFromForm(`{"text": "a b c", "behavior": "fail"}`)); err != nil {
			t.Fatal(err)
		}
		text, class := verdict(ctx, t)
		if class != "bad" || !strings.HasPrefix(text, "200 ") || !strings.Contains(text, "then the stream failed after 1 chunk(s) — 502 Worker error") {
			t.Errorf("got status %q (class %q); want red: 200, then the stream failed after 1 chunk(s) — 502 Worker error", text, class)
		}
	})
	t.Run("merged", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#try-merged")),
			sendFromForm(`{"text": "a b"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		text, class := verdict(ctx, t)
		if out := texts(ctx, t, "#try-output")[0]; class != "ok" || !strings.HasPrefix(text, "200 ") || !strings.Contains(out, `"text": "a b "`) {
			t.Errorf("got status %q (class %q), output %q; want 200 and the merged reply", text, class, out)
		}
	})
}

func TestDocsPageFollowsAJobToItsRecord(t *testing.T) {
	g := newJobGateway(t, jobs.Config{})
	g.worker(t)
	base := g.listen(t)
	ctx := browser(t)
	err := chromedp.Do(ctx,
		openVersion(base, "steps"),
		chromedp.SetValue(chromedp.CSS("#try-body"), `{"text": "from the page", "steps": 4, "step_ms": 300}`),
		chromedp.Click(chromedp.CSS("#try-send")),
		// Followed from the 202: running, with its progress, before it ends.
		waitFor(`document.querySelector("#try-status").textContent.includes(" running ") && document.querySelector("#try-progress").value > 0`),
		waitFor(`document.querySelector("#try-status").dataset.state === "done"`),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, class := verdict(ctx, t)
	if class != "ok" || !strings.HasPrefix(text, "202 ") || !strings.Contains(text, "succeeded 100%, step 4 of 4") {
		t.Errorf("got status %q (class %q); want green: 202, then succeeded 100%%, step 4 of 4", text, class)
	}
	if out := texts(ctx, t, "#try-output")[0]; !strings.Contains(out, `"result": {`) || !strings.Contains(out, `"from the page"`) {
		t.Errorf("got output %q; want the record with its result", out)
	}

	// Cancelled from the page: red, and said so.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#try-body"), `{"text": "stop me", "steps": 50, "step_ms": 200}`),
		chromedp.Click(chromedp.CSS("#try-send")),
		waitFor(`document.querySelector("#try-status").textContent.includes(" running ")`),
		chromedp.Click(chromedp.CSS("#try-cancel")),
		waitFor(`document.querySelector("#try-status").dataset.state === "done"`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if text, class := verdict(ctx, t); class != "bad" || !strings.Contains(text, " cancelled") {
		t.Errorf("got status %q (class %q); want red, cancelled", text, class)
	}
}

func TestDocsPageFitsAPhone(t *testing.T) {
	g := newGateway(t)
	g.serveEcho(t, []int{1})
	base := g.listen(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		openVersion(base, "echo"),
		sendFromForm(`{"text": "`+strings.Repeat("a-long-word-", 5)+`"}`),
	); err != nil {
		t.Fatal(err)
	}
	layout, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(() => {
		const aside = document.querySelector("aside").getBoundingClientRect();
		const detail = document.querySelector("#detail").getBoundingClientRect();
		return {scroll: document.documentElement.scrollWidth, width: window.innerWidth,
			asideBottom: aside.bottom, detailTop: detail.top, detailWidth: detail.width};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if layout["scroll"] > layout["width"] {
		t.Errorf("the page is %v px wide on a %v px screen; want no sideways scrolling", layout["scroll"], layout["width"])
	}
	if layout["asideBottom"] > layout["detailTop"] || layout["detailWidth"] < layout["width"]*0.9 {
		t.Errorf("layout %v; want the contracts above the detail, the detail the screen's width", layout)
	}
}

// With keys, the page sends the key typed at the top; without one, the
// call is refused in red.
func TestDocsPageSendsTheAPIKey(t *testing.T) {
	g := newKeyedGateway(t)
	g.serveEcho(t, []int{1})
	base := g.listen(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, openVersion(base, "echo"), sendFromForm(`{"text": "no key"}`)); err != nil {
		t.Fatal(err)
	}
	if text, class := verdict(ctx, t); class != "bad" || !strings.HasPrefix(text, "401 ") {
		t.Errorf("without a key: got status %q (class %q); want red 401", text, class)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#api-key"), g.tokens["echo"]),
		sendFromForm(`{"text": "with a key"}`),
	); err != nil {
		t.Fatal(err)
	}
	if text, class := verdict(ctx, t); class != "ok" || !strings.HasPrefix(text, "200 ") {
		t.Errorf("with a key: got status %q (class %q); want green 200", text, class)
	}
}
