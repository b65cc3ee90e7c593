package api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/usage"
)

// maxUsageDays bounds the days one GET /usage reads.
const maxUsageDays = 366

// usageDimensions are what GET /usage may group by.
var usageDimensions = []string{"day", "contract", "key", "model"}

var (
	usageContract = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}(/v[1-9][0-9]*)?$`)
	usageKeyID    = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// usageGroup is one row of a usage report: the dimensions grouped by, and
// what their calls consumed.
type usageGroup struct {
	Day      string `json:"day,omitempty"`
	Contract string `json:"contract,omitempty"`
	Key      string `json:"key,omitempty"`
	Model    string `json:"model,omitempty"`
	usage.Totals
}

// usageReport is what GET /usage answers.
type usageReport struct {
	Since   string       `json:"since"`
	Until   string       `json:"until"`
	GroupBy []string     `json:"group_by"`
	Groups  []usageGroup `json:"groups"`
	Total   usage.Totals `json:"total"`
}

// Usage answers GET /usage: what calls consumed (tokens, cost, calls,
// attempts) per day, contract, key and model, from the ledger every
// replica writes, with filters ?since= ?until= (YYYY-MM-DD, UTC, at most
// 366 days; default the last 30), ?contract= (name or name/vN), ?key= (a
// key id) and ?group_by= (a comma list of day, contract, key, model;
// default contract,model). With API keys, a key reads its own usage unless
// it is a usage reader (notebridge keys create -usage-reader).
func Usage(ledger *usage.Ledger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		now := time.Now().UTC()
		until, err := usageDay(c.Query("until"), now)
		if err != nil {
			return invalidQuery("until", err.Error())
		}
		since, err := usageDay(c.Query("since"), until.AddDate(0, 0, -29))
		if err != nil {
			return invalidQuery("since", err.Error())
		}
		if since.After(until) || until.Sub(since) >= maxUsageDays*24*time.Hour {
			return invalidQuery("since", fmt.Sprintf("must be on or before until, and at most %d days before it", maxUsageDays-1))
		}
		contract := c.Query("contract")
		if contract != "" && !usageContract.MatchString(contract) {
			return invalidQuery("contract", "must be a contract name or name/vN")
		}
		keyID := c.Query("key")
		if keyID != "" && !usageKeyID.MatchString(keyID) {
			return invalidQuery("key", "must be a key id, 12 hex digits (notebridge keys list)")
		}
		if k := keyOf(c); k != nil && !k.UsageReader {
			if keyID != "" && keyID != k.ID {
				return usageForbidden(k.Name)
			}
			keyID = k.ID
		}
		groupBy := []string{"contract", "model"}
		if raw := c.Query("group_by"); raw != "" {
			groupBy = strings.Split(raw, ",")
			for _, d := range groupBy {
				if !slices.Contains(usageDimensions, d) {
					return invalidQuery("group_by", "must be a comma list of day, contract, key and model")
				}
			}
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), ledgerWait)
		defer cancel()
		rows, err := ledger.Rows(ctx, since, until, contract, keyID)
		if err != nil {
			return usageUnavailable(err)
		}
		report := usageReport{Since: since.Format(time.DateOnly), Until: until.Format(time.DateOnly), GroupBy: groupBy, Groups: []usageGroup{}}
		index := map[usageGroup]int{}
		for _, r := range rows {
			var g usageGroup
			for _, d := range groupBy {
				switch d {
				case "day":
					g.Day = r.Day
				case "contract":
					g.Contract = r.Contract
				case "key":
					g.Key = r.Key
				case "model":
					g.Model = r.Model
				}
			}
			i, seen := index[g]
			if !seen {
				i = len(report.Groups)
				index[g] = i
				report.Groups = append(report.Groups, g)
			}
			report.Groups[i].Add(r.Totals)
			report.Total.Add(r.Totals)
		}
		slices.SortFunc(report.Groups, func(a, b usageGroup) int {
			return strings.Compare(a.Day+"\x00"+a.Contract+"\x00"+a.Key+"\x00"+a.Model, b.Day+"\x00"+b.Contract+"\x00"+b.Key+"\x00"+b.Model)
		})
		return c.JSON(report)
	}
}

// usageDay reads a YYYY-MM-DD query value; "" is def.
func usageDay(raw string, def time.Time) (time.Time, error) {
	if raw == "" {
		return time.Date(def.Year(), def.Month(), def.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	d, err := time.Parse(time.DateOnly, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a day, YYYY-MM-DD")
	}
	return d, nil
}
