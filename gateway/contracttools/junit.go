package contracttools

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// The JUnit XML format as CI systems read it: one testsuite per contract
// version, one testcase per example.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes results as JUnit XML. A failed example is a
// <failure>; an example no worker could run is an <error> of type
// "no-worker".
func WriteJUnit(w io.Writer, results []Result) error {
	doc := junitSuites{Name: "notebridge contracts"}
	var total float64
	index := map[string]int{}
	suiteTime := map[int]float64{}
	for _, r := range results {
		i, ok := index[r.Contract]
		if !ok {
			i = len(doc.Suites)
			index[r.Contract] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: r.Contract})
		}
		s := &doc.Suites[i]
		secs := r.Duration.Seconds()
		total += secs
		suiteTime[i] += secs
		c := junitCase{Name: r.Example, ClassName: "contracts." + strings.ReplaceAll(r.Contract, "/", "."), Time: seconds(secs)}
		switch r.Outcome {
		case Fail:
			c.Failure = &junitProblem{Type: "fail", Message: first(r.Problems), Text: strings.Join(r.Problems, "\n")}
			s.Failures++
			doc.Failures++
		case NoWorker:
			c.Error = &junitProblem{Type: "no-worker", Message: first(r.Problems), Text: strings.Join(r.Problems, "\n")}
			s.Errors++
			doc.Errors++
		}
		s.Tests++
		doc.Tests++
		s.Cases = append(s.Cases, c)
	}
	for i := range doc.Suites {
		doc.Suites[i].Time = seconds(suiteTime[i])
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

func first(ps []string) string {
	if len(ps) == 0 {
		return ""
	}
	return ps[0]
}
