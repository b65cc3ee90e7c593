package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The gateway image's binary is built as gateway/Dockerfile says (no
// Docker engine runs here): the test takes the Dockerfile's build line,
// runs it, and checks the binary is static, so that it runs on the
// distroless base, and that the image runs as a non-root user and probes
// itself.
func TestTheDockerfileBuildIsStatic(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(raw)
	build := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0) go build (.+) -o /notebridge (\./gateway/cmd/notebridge)$`).FindStringSubmatch(dockerfile)
	if build == nil {
		t.Fatalf("gateway/Dockerfile has no RUN CGO_ENABLED=0 go build ... -o /notebridge ./gateway/cmd/notebridge line:\n%s", dockerfile)
	}
	for _, want := range []string{"USER nonroot:nonroot", `HEALTHCHECK`, `CMD ["/notebridge", "healthcheck"]`, "FROM gcr.io/distroless/static"} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("gateway/Dockerfile lacks %q", want)
		}
	}
	out := filepath.Join(t.TempDir(), "notebridge")
	// The build flags as the shell splits them: -ldflags="-s -w" is one word.
	args := []string{"build"}
	for _, word := range regexp.MustCompile(`(?:[^\s"]+|"[^"]*")+`).FindAllString(build[2], -1) {
		args = append(args, strings.ReplaceAll(word, `"`, ""))
	}
	cmd := exec.Command("go", append(args, "-o", out, build[3])...)
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(), build[1])
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: it would not run on distroless/static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v; want none", libs)
	}
	if help, err := exec.Command(out, "healthcheck", "-h").CombinedOutput(); !strings.Contains(string(help), "-url") {
		t.Errorf("the image's healthcheck command: %v\n%s", err, help)
	}
}
