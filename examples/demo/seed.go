package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// The seed is deterministic: one PCG generator with a fixed seed drives every
// choice, so the same size and anchor day always produce the same rows with
// the same IDs. Dates are relative to the anchor (by default the current UTC
// day), so "subscription ends in 3 days" stays true whenever the demo is
// seeded.

const (
	seedVersion = "1"
	prngSeed1   = 0x7e6a6e74 // "tent"
	prngSeed2   = 0x6b697421 // "kit!"
)

// seedSize says how much data one seed creates.
type seedSize struct {
	Name       string
	Orgs       int               // organizations, including the suspended one
	Properties map[string][2]int // per plan: min, max properties
	Buildings  [2]int            // per property
	EveryDays  int               // one reading per meter every N days over 12 months
}

var errUnknownSize = errors.New("unknown size (want small, medium or large)")

// sizeNamed returns the seed size called name.
func sizeNamed(name string) (seedSize, error) {
	switch name {
	case "small":
		return seedSize{Name: "small", Orgs: 4, EveryDays: 3, Buildings: [2]int{1, 2},
			Properties: map[string][2]int{"basic": {1, 2}, "professional": {1, 2}, "enterprise": {2, 2}}}, nil
	case "medium", "":
		return seedSize{Name: "medium", Orgs: 24, EveryDays: 1, Buildings: [2]int{1, 2},
			Properties: map[string][2]int{"basic": {2, 3}, "professional": {4, 7}, "enterprise": {8, 12}}}, nil
	case "large":
		return seedSize{Name: "large", Orgs: 60, EveryDays: 1, Buildings: [2]int{1, 4},
			Properties: map[string][2]int{"basic": {3, 5}, "professional": {8, 12}, "enterprise": {15, 25}}}, nil
	}
	return seedSize{}, fmt.Errorf("%q: %w", name, errUnknownSize)
}

// seedStats counts what a seed wrote (or what an existing database holds).
type seedStats struct {
	Size          string
	Organizations int
	Properties    int
	Meters        int
	Readings      int
	Invoices      int
	InvoiceItems  int
	Elapsed       time.Duration
}

// orgSlugs are the seeded organizations in order. The first four are in
// every size: acme (enterprise), globex (professional, subscription ends in
// days), initech (basic, subscription expired) and umbrella (suspended).
var orgSlugs = []string{
	"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
	"tyrell", "cyberdyne", "soylent", "oscorp", "aperture", "blackmesa", "gringotts", "monarch",
	"vandelay", "dunder", "piedpiper", "nakatomi", "weyland", "yoyodyne", "gekko", "prestige",
	"sterling", "bluth", "krusty", "planetexpress", "duff", "ollivanders", "virtucon", "rekall",
	"spacely", "cogswell", "ingen", "abstergo", "vought", "massive", "paper", "octan",
}

const (
	suspendedSlug = "umbrella"
	expiredSlug   = "initech"
	nearQuotaSlug = "wonka"
	fullUsersSlug = "tyrell"
)

var endingSoon = map[string]int{"globex": 5, "hooli": 2, "stark": 6} // days until the subscription ends

type planSpec struct {
	StorageQuota int64
	APIPerDay    int64
	MaxUsers     int
	Price        float64
	Users        [2]int
}

var plans = map[string]planSpec{
	"basic":        {StorageQuota: 1 << 30, APIPerDay: 10_000, MaxUsers: 5, Price: 49, Users: [2]int{2, 4}},
	"professional": {StorageQuota: 10 << 30, APIPerDay: 100_000, MaxUsers: 25, Price: 199, Users: [2]int{5, 12}},
	"enterprise":   {StorageQuota: 100 << 30, APIPerDay: 1_000_000, MaxUsers: 250, Price: 999, Users: [2]int{10, 30}},
}

func planOf(i int, slug string) string {
	switch slug {
	case "acme":
		return "enterprise"
	case "globex", suspendedSlug:
		return "professional"
	case "initech":
		return "basic"
	}
	return [...]string{"basic", "professional", "enterprise"}[i%3]
}

func orgSlug(i int) string {
	if i < len(orgSlugs) {
		return orgSlugs[i]
	}
	return fmt.Sprintf("org%03d", i+1)
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

type provider struct {
	Name, Kind, Country string
}

var providers = []provider{
	{"Northwind Power", "electricity", "DE"},
	{"Helios Energie", "electricity", "DE"},
	{"Fjord Kraft", "electricity", "NO"},
	{"Blue River Water", "water", "DE"},
	{"Aqua Municipal", "water", "NL"},
	{"Caloris Gas", "gas", "DE"},
	{"Nordgas", "gas", "DK"},
	{"Citywarm District Heating", "heat", "DE"},
	{"Vapor Fernwärme", "heat", "AT"},
}

type meterKind struct {
	Type, Unit, Prefix string
	Price              [2]float64 // unit price range, EUR
}

var meterKinds = map[string]meterKind{
	"electricity": {"electricity", "kWh", "EL", [2]float64{0.28, 0.38}},
	"water":       {"water", "m3", "WA", [2]float64{1.8, 4.5}},
	"gas":         {"gas", "m3", "GA", [2]float64{0.9, 1.4}},
	"heat":        {"heat", "kWh", "HE", [2]float64{0.10, 0.16}},
}

var meterTypes = []string{"electricity", "water", "gas", "heat"}

var cities = []struct{ City, Postal string }{
	{"Berlin", "10115"}, {"Hamburg", "20095"}, {"Munich", "80331"}, {"Cologne", "50667"},
	{"Frankfurt", "60311"}, {"Leipzig", "04109"}, {"Vienna", "1010"}, {"Amsterdam", "1012"},
	{"Rotterdam", "3011"}, {"Copenhagen", "1050"}, {"Oslo", "0150"}, {"Zurich", "8001"},
}

var streets = []string{
	"Lindenstraße", "Hafenweg", "Bahnhofstraße", "Gartenallee", "Kastanienweg", "Mühlenstraße",
	"Schillerplatz", "Rosenstraße", "Am Markt", "Uferpromenade", "Birkenweg", "Industriestraße",
}

var firstNames = []string{"anna", "ben", "clara", "david", "eva", "felix", "greta", "hugo", "ida", "jonas", "karla", "leon", "mia", "noah", "olga", "paul"}
var lastNames = []string{"meyer", "schmidt", "jansen", "berg", "novak", "larsen", "weber", "fischer", "koch", "richter", "wolf", "hansen"}

// seeder holds the generator state of one seed run.
type seeder struct {
	ctx    context.Context
	tx     *sql.Tx
	d      sqldialect.Dialect
	rng    *rand.Rand
	size   seedSize
	anchor time.Time // UTC midnight of the seed day
	stats  seedStats
	meters []*seedMeter // kept for planSeed
}

// planSeed runs the generator without a database: every row is generated
// and counted, nothing is written. Tests use it to check the medium and
// large sizes without paying for the inserts.
func planSeed(size seedSize, anchor time.Time) (*seeder, error) {
	s := &seeder{
		ctx: context.Background(), size: size,
		rng:    rand.New(rand.NewPCG(prngSeed1, prngSeed2)),
		anchor: anchor.UTC().Truncate(24 * time.Hour),
	}
	s.stats.Size = size.Name
	return s, s.run()
}

type seedOrg struct {
	ID      int64
	Slug    string
	Plan    string
	Status  string
	Created time.Time
	Tariffs map[string]seedTariff
	Users   []int64
}

type seedTariff struct {
	ID       int64
	Price    float64
	Standing float64
	Unit     string
}

type seedProperty struct {
	ID      int64
	Org     *seedOrg
	Kind    string
	Created time.Time
}

type seedMeter struct {
	ID         int64
	Prop       *seedProperty
	Type       string
	Cumulative bool
	Area       float64
	Monthly    []float64 // consumption per billing month, index 0 = oldest
}

// seedDatabase writes the demo data of size into db, which must hold the
// empty demo schema, in one transaction, then creates the indexes (and, on
// PostgreSQL, the policies) and the seeded marker. On SQLite and PostgreSQL
// the tables are created in the same transaction, so a failed seed leaves
// nothing behind.
func seedDatabase(ctx context.Context, db *sql.DB, d sqldialect.Dialect, size seedSize, anchor time.Time) (seedStats, error) {
	start := time.Now()
	if d == sqldialect.MySQL {
		// DDL commits implicitly on MySQL: create the tables first, outside
		// the data transaction.
		if err := createTables(ctx, db, d); err != nil {
			return seedStats{}, err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return seedStats{}, fmt.Errorf("seed: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if d == sqldialect.Postgres {
		// The owner is subject to the policies too (FORCE); the seed writes
		// every tenant's rows, so it runs in explicit system mode, which
		// ends with this transaction.
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'on', true)"); err != nil {
			return seedStats{}, fmt.Errorf("seed: system mode: %w", err)
		}
	}
	if d != sqldialect.MySQL {
		if err := createTables(ctx, tx, d); err != nil {
			return seedStats{}, err
		}
	}
	s := &seeder{
		ctx: ctx, tx: tx, d: d, size: size,
		rng:    rand.New(rand.NewPCG(prngSeed1, prngSeed2)),
		anchor: anchor.UTC().Truncate(24 * time.Hour),
	}
	s.stats.Size = size.Name
	if err := s.run(); err != nil {
		return seedStats{}, fmt.Errorf("seed: %w", err)
	}
	if d == sqldialect.MySQL {
		if err := tx.Commit(); err != nil {
			return seedStats{}, fmt.Errorf("seed: commit: %w", err)
		}
		if err := createIndexesAndPolicies(ctx, db, d); err != nil {
			return seedStats{}, err
		}
		if err := writeMarker(ctx, db, d, size.Name, s.anchor); err != nil {
			return seedStats{}, err
		}
	} else {
		if err := createIndexesAndPolicies(ctx, tx, d); err != nil {
			return seedStats{}, err
		}
		if d == sqldialect.Postgres {
			if err := bumpSequences(ctx, tx); err != nil {
				return seedStats{}, err
			}
		}
		if err := writeMarker(ctx, tx, d, size.Name, s.anchor); err != nil {
			return seedStats{}, err
		}
		if err := tx.Commit(); err != nil {
			return seedStats{}, fmt.Errorf("seed: commit: %w", err)
		}
	}
	s.stats.Elapsed = time.Since(start)
	return s.stats, nil
}

// bumpSequences moves every identity sequence past the explicit IDs the seed
// wrote, so the next INSERT without an id does not collide.
func bumpSequences(ctx context.Context, x execer) error {
	for _, t := range schemaTables() {
		q := fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM %s), false)", t.Name, t.Name)
		if _, err := x.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("seed: advance sequence of %s: %w", t.Name, err)
		}
	}
	return nil
}

func writeMarker(ctx context.Context, x execer, d sqldialect.Dialect, size string, anchor time.Time) error {
	q := d.Rebind(fmt.Sprintf("INSERT INTO %s (name, value) VALUES (?, ?), (?, ?), (?, ?)", metaTable))
	_, err := x.ExecContext(ctx, q, "seeded_size", size, "seed_anchor", anchor.Format(time.DateOnly), "seed_version", seedVersion)
	if err != nil {
		return fmt.Errorf("seed: write marker: %w", err)
	}
	return nil
}

func (s *seeder) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + s.rng.IntN(hi-lo+1)
}

func (s *seeder) uniform(lo, hi float64) float64 { return lo + s.rng.Float64()*(hi-lo) }

func (s *seeder) daysAgo(lo, hi int) time.Time {
	return s.anchor.Add(-time.Duration(s.between(lo, hi))*24*time.Hour - time.Duration(s.rng.IntN(86400))*time.Second)
}

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}

func (s *seeder) run() error {
	orgs, err := s.organizations()
	if err != nil {
		return err
	}
	if err := s.providers(); err != nil {
		return err
	}
	if err := s.usersAndTariffs(orgs); err != nil {
		return err
	}
	props, meters, err := s.propertiesBuildingsMeters(orgs)
	if err != nil {
		return err
	}
	if err := s.readings(meters); err != nil {
		return err
	}
	if err := s.invoices(props, meters); err != nil {
		return err
	}
	if err := s.subscriptionsAndAudit(orgs); err != nil {
		return err
	}
	return nil
}

func (s *seeder) organizations() ([]*seedOrg, error) {
	in := newInserter(s, "organizations", "id", "slug", "name", "plan", "status", "storage_quota_bytes",
		"storage_used_bytes", "api_calls_per_day", "max_users", "subscription_ends_at", "created_at")
	suffixes := []string{"Property Management", "Estates", "Housing", "Facilities", "Real Estate", "Holdings"}
	var orgs []*seedOrg
	for i := range s.size.Orgs {
		slug := orgSlug(i)
		plan := planOf(i, slug)
		spec := plans[plan]
		o := &seedOrg{ID: int64(i + 1), Slug: slug, Plan: plan, Status: "active", Created: s.daysAgo(420, 1500)}
		if slug == suspendedSlug {
			o.Status = "suspended"
		}
		used := int64(float64(spec.StorageQuota) * s.uniform(0.08, 0.7))
		if slug == nearQuotaSlug {
			used = int64(float64(spec.StorageQuota) * 0.95)
		}
		ends := s.subscriptionEnd(slug)
		if err := in.add(o.ID, slug, titleCase(slug)+" "+suffixes[i%len(suffixes)], plan, o.Status,
			spec.StorageQuota, used, spec.APIPerDay, spec.MaxUsers, ends, o.Created); err != nil {
			return nil, err
		}
		orgs = append(orgs, o)
	}
	s.stats.Organizations = len(orgs)
	return orgs, in.close()
}

// subscriptionEnd is the end of the current subscription of slug.
func (s *seeder) subscriptionEnd(slug string) time.Time {
	if d, ok := endingSoon[slug]; ok {
		return s.anchor.AddDate(0, 0, d).Add(12 * time.Hour)
	}
	switch slug {
	case expiredSlug:
		return s.anchor.AddDate(0, 0, -12)
	case suspendedSlug:
		return s.anchor.AddDate(0, 0, -40)
	}
	// Stable per slug, not drawn from the generator, so that adding an
	// organization does not shift every later date.
	h := 0
	for _, c := range slug {
		h = h*31 + int(c)
	}
	return s.anchor.AddDate(0, 0, 30+h%300)
}

func (s *seeder) providers() error {
	in := newInserter(s, "providers", "id", "name", "kind", "country", "created_at")
	for i, p := range providers {
		if err := in.add(int64(i+1), p.Name, p.Kind, p.Country, s.anchor.AddDate(-5, 0, 0)); err != nil {
			return err
		}
	}
	return in.close()
}

func (s *seeder) usersAndTariffs(orgs []*seedOrg) error {
	users := newInserter(s, "users", "id", "tenant_id", "email", "name", "role", "created_at", "last_login_at")
	tariffs := newInserter(s, "tariffs", "id", "tenant_id", "provider_id", "name", "meter_type", "unit",
		"unit_price", "standing_charge_monthly", "currency", "valid_from", "valid_to", "created_at")
	var userID, tariffID int64
	for _, o := range orgs {
		spec := plans[o.Plan]
		n := s.between(spec.Users[0], spec.Users[1])
		if o.Slug == fullUsersSlug {
			n = spec.MaxUsers
		}
		seen := map[string]bool{}
		for j := range n {
			first := firstNames[s.rng.IntN(len(firstNames))]
			last := lastNames[s.rng.IntN(len(lastNames))]
			email := fmt.Sprintf("%s.%s@%s.example", first, last, o.Slug)
			if seen[email] {
				email = fmt.Sprintf("%s.%s%d@%s.example", first, last, j, o.Slug)
			}
			seen[email] = true
			role := "viewer"
			switch {
			case j == 0:
				role = "admin"
			case j%4 == 1:
				role = "manager"
			}
			userID++
			var lastLogin any
			if s.rng.IntN(10) > 0 {
				lastLogin = s.daysAgo(0, 20)
			}
			if err := users.add(userID, o.ID, email, titleCase(first)+" "+titleCase(last), role,
				o.Created.Add(time.Duration(j)*72*time.Hour), lastLogin); err != nil {
				return err
			}
			o.Users = append(o.Users, userID)
		}
		o.Tariffs = map[string]seedTariff{}
		for _, typ := range meterTypes {
			k := meterKinds[typ]
			var candidates []int64
			for i, p := range providers {
				if p.Kind == typ {
					candidates = append(candidates, int64(i+1))
				}
			}
			tariffID++
			t := seedTariff{ID: tariffID, Price: round(s.uniform(k.Price[0], k.Price[1]), 5),
				Standing: round(s.uniform(8, 25), 2), Unit: k.Unit}
			o.Tariffs[typ] = t
			pid := candidates[s.rng.IntN(len(candidates))]
			if err := tariffs.add(t.ID, o.ID, pid, fmt.Sprintf("%s %s %d", providers[pid-1].Name, titleCase(typ), s.anchor.Year()-1),
				typ, k.Unit, t.Price, t.Standing, "EUR", s.anchor.AddDate(-1, -1, 0), nil, o.Created); err != nil {
				return err
			}
		}
	}
	if err := users.close(); err != nil {
		return err
	}
	return tariffs.close()
}

func (s *seeder) propertiesBuildingsMeters(orgs []*seedOrg) ([]*seedProperty, []*seedMeter, error) {
	propsIn := newInserter(s, "properties", "id", "tenant_id", "name", "address", "city", "postal_code", "kind", "is_active", "created_at")
	type building struct {
		ID, Prop int64
		Area     float64
	}
	var props []*seedProperty
	var buildings []building
	buildingsIn := newInserter(s, "buildings", "id", "tenant_id", "property_id", "name", "floors", "area_m2", "built_year", "created_at")
	kinds := []string{"residential", "residential", "commercial", "mixed", "industrial"}
	var propID, buildingID int64
	for _, o := range orgs {
		r := s.size.Properties[o.Plan]
		for range s.between(r[0], r[1]) {
			propID++
			street := streets[s.rng.IntN(len(streets))]
			c := cities[s.rng.IntN(len(cities))]
			kind := kinds[s.rng.IntN(len(kinds))]
			name := street + " " + map[string]string{"residential": "Residences", "commercial": "Office Park",
				"mixed": "Quarter", "industrial": "Works"}[kind]
			p := &seedProperty{ID: propID, Org: o, Kind: kind, Created: o.Created.Add(time.Duration(s.between(1, 200)) * 24 * time.Hour)}
			props = append(props, p)
			if err := propsIn.add(p.ID, o.ID, name, fmt.Sprintf("%s %d", street, s.between(1, 180)), c.City, c.Postal,
				kind, s.rng.IntN(20) > 0, p.Created); err != nil {
				return nil, nil, err
			}
			for j := range s.between(s.size.Buildings[0], s.size.Buildings[1]) {
				buildingID++
				area := round(s.uniform(350, 9000), 2)
				if kind == "industrial" {
					area = round(s.uniform(2000, 20000), 2)
				}
				buildings = append(buildings, building{ID: buildingID, Prop: p.ID, Area: area})
				if err := buildingsIn.add(buildingID, o.ID, p.ID, fmt.Sprintf("Block %c", 'A'+j), s.between(2, 18),
					area, s.between(1955, 2022), p.Created); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if err := propsIn.close(); err != nil {
		return nil, nil, err
	}
	if err := buildingsIn.close(); err != nil {
		return nil, nil, err
	}
	s.stats.Properties = len(props)

	metersIn := newInserter(s, "meters", "id", "tenant_id", "property_id", "building_id", "tariff_id", "serial",
		"type", "unit", "cumulative", "installed_at", "created_at")
	byID := map[int64]*seedProperty{}
	for _, p := range props {
		byID[p.ID] = p
	}
	var meters []*seedMeter
	var meterID int64
	for _, b := range buildings {
		p := byID[b.Prop]
		types := []string{"electricity", "water"}
		if s.rng.IntN(10) < 6 {
			types = append(types, "gas")
		} else {
			types = append(types, "heat")
		}
		for _, typ := range types {
			meterID++
			k := meterKinds[typ]
			cumulative := true
			switch typ {
			case "electricity":
				cumulative = s.rng.IntN(5) > 0 // one in five is an interval (smart) meter
			case "heat":
				cumulative = s.rng.IntN(2) == 0
			}
			m := &seedMeter{ID: meterID, Prop: p, Type: typ, Cumulative: cumulative, Area: b.Area}
			meters = append(meters, m)
			installed := s.anchor.AddDate(-1, 0, -s.between(5, 400))
			if err := metersIn.add(m.ID, p.Org.ID, p.ID, b.ID, p.Org.Tariffs[typ].ID,
				fmt.Sprintf("%s-%07d", k.Prefix, 1000000+m.ID*7919%9000000), typ, k.Unit, cumulative, installed, installed); err != nil {
				return nil, nil, err
			}
		}
	}
	s.stats.Meters = len(meters)
	s.meters = meters
	return props, meters, metersIn.close()
}

// billingMonths is the number of invoiced calendar months: the twelve
// complete months before the anchor's month, plus the anchor's month itself
// (a draft).
const billingMonths = 13

// monthIndex returns the billing month of day t: 0 is the oldest complete
// month, billingMonths-1 the anchor's month.
func (s *seeder) monthIndex(t time.Time) int {
	am := s.anchor.Year()*12 + int(s.anchor.Month()) - 1
	tm := t.Year()*12 + int(t.Month()) - 1
	return billingMonths - 1 - (am - tm)
}

// dailyConsumption is the modelled consumption of meter m on day t.
// Heating follows heating degree days (cold winters, nothing in summer above
// 15.5 °C), electricity peaks mildly in winter (light) and dips on weekends
// for businesses, water peaks in summer.
func (s *seeder) dailyConsumption(m *seedMeter, t time.Time) float64 {
	doy := float64(t.YearDay())
	season := math.Cos(2 * math.Pi * (doy - 20) / 365) // +1 late January, -1 late July
	temp := 9 - 10*season + s.uniform(-3, 3)
	hdd := math.Max(0, 15.5-temp)
	noise := 1 + s.uniform(-0.1, 0.1)
	weekend := t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
	switch m.Type {
	case "electricity":
		k := map[string]float64{"residential": 0.09, "commercial": 0.18, "mixed": 0.13, "industrial": 0.35}[m.Prop.Kind]
		f := 1 + 0.18*season
		if m.Prop.Kind == "residential" {
			if weekend {
				f *= 1.1
			}
		} else if weekend {
			f *= 0.55
		}
		return m.Area * k * f * noise
	case "water":
		k := 0.004
		if m.Prop.Kind != "residential" {
			k = 0.002
		}
		return m.Area * k * (1 - 0.15*season) * noise
	case "gas":
		return (m.Area*0.002 + m.Area*0.0035*hdd) * noise
	default: // heat
		return (m.Area*0.02 + m.Area*0.035*hdd) * noise
	}
}

func (s *seeder) readings(meters []*seedMeter) error {
	in := newInserter(s, "meter_readings", "id", "tenant_id", "meter_id", "read_at", "value", "source", "created_at")
	// From the first day of the oldest billing month to the day before the
	// anchor: twelve complete months plus the current one so far.
	first := time.Date(s.anchor.Year(), s.anchor.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -(billingMonths - 1), 0)
	days := int(s.anchor.Sub(first) / (24 * time.Hour))
	var id int64
	for _, m := range meters {
		m.Monthly = make([]float64, billingMonths)
		register := round(s.uniform(1000, 80000), 3)
		offset := time.Duration(6*60+int(m.ID%240)) * time.Minute
		interval := 0.0
		for day := range days {
			t := first.AddDate(0, 0, day)
			c := s.dailyConsumption(m, t)
			if i := s.monthIndex(t); i >= 0 && i < billingMonths {
				m.Monthly[i] += c
			}
			register += c
			interval += c
			if (day+1)%s.size.EveryDays != 0 {
				continue
			}
			value := register
			if !m.Cumulative {
				value = interval
			}
			interval = 0
			source := "auto"
			switch r := s.rng.IntN(100); {
			case r < 5:
				source = "manual"
			case r < 7:
				source = "estimate"
			}
			id++
			readAt := t.Add(offset)
			if err := in.add(id, m.Prop.Org.ID, m.ID, readAt, round(value, 3), source, readAt.Add(2*time.Minute)); err != nil {
				return err
			}
		}
	}
	s.stats.Readings = int(id)
	return in.close()
}

func (s *seeder) invoices(props []*seedProperty, meters []*seedMeter) error {
	inv := newInserter(s, "invoices", "id", "tenant_id", "property_id", "number", "status", "billing_period_start",
		"billing_period_end", "issued_at", "due_at", "paid_at", "total_amount", "currency", "created_at")
	type item struct {
		invoice, meter  int64
		desc, unit      string
		qty, price, amt float64
		hasMeter        bool
	}
	var items []item
	byProp := map[int64][]*seedMeter{}
	for _, m := range meters {
		byProp[m.Prop.ID] = append(byProp[m.Prop.ID], m)
	}
	seq := map[int64]int{}
	var invoiceID int64
	monthStart := time.Date(s.anchor.Year(), s.anchor.Month(), 1, 0, 0, 0, 0, time.UTC)
	latePayer := func(o *seedOrg) bool { return o.ID%5 == 2 }
	for mi := range billingMonths {
		start := monthStart.AddDate(0, mi-(billingMonths-1), 0)
		end := start.AddDate(0, 1, -1)
		current := mi == billingMonths-1
		if current && s.anchor.Day() == 1 {
			continue // nothing consumed yet this month
		}
		for _, p := range props {
			invoiceID++
			seq[p.Org.ID]++
			number := fmt.Sprintf("INV-%s-%05d", start.Format("200601"), seq[p.Org.ID])
			total := 0.0
			standing := map[string]bool{}
			for _, m := range byProp[p.ID] {
				t := p.Org.Tariffs[m.Type]
				q := round(m.Monthly[mi], 3)
				amt := round(q*t.Price, 2)
				total += amt
				items = append(items, item{invoice: invoiceID, meter: m.ID, hasMeter: true,
					desc: fmt.Sprintf("%s consumption %s", titleCase(m.Type), start.Format("Jan 2006")),
					unit: t.Unit, qty: q, price: t.Price, amt: amt})
				standing[m.Type] = true
			}
			for _, typ := range meterTypes {
				if !standing[typ] {
					continue
				}
				t := p.Org.Tariffs[typ]
				total += t.Standing
				items = append(items, item{invoice: invoiceID, desc: fmt.Sprintf("%s standing charge", titleCase(typ)),
					unit: "month", qty: 1, price: t.Standing, amt: t.Standing})
			}
			status := "paid"
			var issued, paid any
			var due any
			issuedAt := end.AddDate(0, 0, 3).Add(9 * time.Hour)
			dueAt := end.AddDate(0, 0, 33)
			switch {
			case current:
				status = "draft"
			case mi == billingMonths-2:
				status, issued, due = "issued", issuedAt, dueAt
				if dueAt.Before(s.anchor) {
					status = "overdue"
				}
			case latePayer(p.Org) && mi >= billingMonths-4:
				status, issued, due = "issued", issuedAt, dueAt
				if dueAt.Before(s.anchor) {
					status = "overdue"
				}
			default:
				issued, due = issuedAt, dueAt
				paid = issuedAt.AddDate(0, 0, s.between(2, 25))
			}
			created := end.Add(24 * time.Hour)
			if current {
				created = s.anchor.Add(-time.Hour)
			}
			if err := inv.add(invoiceID, p.Org.ID, p.ID, number, status, start, end, issued, due, paid,
				round(total, 2), "EUR", created); err != nil {
				return err
			}
		}
	}
	if err := inv.close(); err != nil {
		return err
	}
	s.stats.Invoices = int(invoiceID)
	in := newInserter(s, "invoice_items", "id", "invoice_id", "meter_id", "description", "quantity", "unit", "unit_price", "amount")
	for i, it := range items {
		var meter any
		if it.hasMeter {
			meter = it.meter
		}
		if err := in.add(int64(i+1), it.invoice, meter, it.desc, it.qty, it.unit, it.price, it.amt); err != nil {
			return err
		}
	}
	s.stats.InvoiceItems = len(items)
	return in.close()
}

func (s *seeder) subscriptionsAndAudit(orgs []*seedOrg) error {
	subs := newInserter(s, "subscriptions", "id", "tenant_id", "plan", "status", "starts_at", "ends_at", "price_monthly", "currency", "created_at")
	audit := newInserter(s, "audit_logs", "id", "tenant_id", "user_id", "action", "entity_type", "entity_id", "notes", "ip", "created_at")
	var subID, auditID int64
	actions := []struct{ action, entity string }{
		{"user.login", ""}, {"user.login", ""}, {"user.login", ""}, {"invoice.issued", "invoice"},
		{"invoice.paid", "invoice"}, {"meter_reading.created", "meter_reading"}, {"property.updated", "property"},
		{"tariff.updated", "tariff"}, {"user.invited", "user"},
	}
	for _, o := range orgs {
		spec := plans[o.Plan]
		ends := s.subscriptionEnd(o.Slug)
		// The previous period, expired, then the current one.
		prevEnd := ends.AddDate(-1, 0, 0)
		subID++
		if err := subs.add(subID, o.ID, o.Plan, "expired", prevEnd.AddDate(-1, 0, 0), prevEnd, spec.Price, "EUR", prevEnd.AddDate(-1, 0, -7)); err != nil {
			return err
		}
		status := "active"
		switch {
		case o.Status == "suspended":
			status = "cancelled"
		case ends.Before(s.anchor):
			status = "expired"
		}
		subID++
		if err := subs.add(subID, o.ID, o.Plan, status, prevEnd, ends, spec.Price, "EUR", prevEnd.AddDate(0, 0, -7)); err != nil {
			return err
		}
		for range s.between(15, 40) {
			a := actions[s.rng.IntN(len(actions))]
			auditID++
			var entityType, entityID any
			if a.entity != "" {
				entityType, entityID = a.entity, int64(s.between(1, 500))
			}
			user := o.Users[s.rng.IntN(len(o.Users))]
			if err := audit.add(auditID, o.ID, user, a.action, entityType, entityID, nil,
				fmt.Sprintf("203.0.113.%d", s.between(1, 254)), s.daysAgo(0, 29)); err != nil {
				return err
			}
		}
		if o.ID%7 == 3 { // a few tenants saw cross-tenant attempts
			for k := range 3 {
				auditID++
				if err := audit.add(auditID, o.ID, nil, "cross_tenant_access_denied", nil, nil,
					fmt.Sprintf("unauthorized: token of tenant %d presented for tenant %d", (o.ID%int64(len(orgs)))+1, o.ID),
					fmt.Sprintf("198.51.100.%d", 10+k), s.daysAgo(0, 0)); err != nil {
					return err
				}
			}
		}
	}
	if err := subs.close(); err != nil {
		return err
	}
	return audit.close()
}

// inserter writes rows of one table with prepared multi-row INSERTs: a full
// batch reuses one prepared statement; the remainder goes out in one last
// statement on close.
type inserter struct {
	s       *seeder
	table   string
	cols    []string
	perStmt int
	full    *sql.Stmt
	buf     []any
	rows    int
	err     error
}

func newInserter(s *seeder, table string, cols ...string) *inserter {
	// Stay well under every engine's bind-variable limit (SQLite 32766,
	// PostgreSQL and MySQL 65535).
	per := min(1000, 30000/len(cols))
	return &inserter{s: s, table: table, cols: cols, perStmt: per, buf: make([]any, 0, per*len(cols))}
}

func (in *inserter) sql(rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", in.table, strings.Join(in.cols, ", "))
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(in.s.d.Placeholders(n, len(in.cols)))
		n += len(in.cols)
		b.WriteByte(')')
	}
	return b.String()
}

func (in *inserter) add(vals ...any) error {
	if in.err != nil {
		return in.err
	}
	if len(vals) != len(in.cols) {
		return fmt.Errorf("insert into %s: %d values for %d columns", in.table, len(vals), len(in.cols))
	}
	if in.s.tx == nil { // planSeed: count only
		return nil
	}
	in.buf = append(in.buf, vals...)
	in.rows++
	if in.rows < in.perStmt {
		return nil
	}
	if in.full == nil {
		st, err := in.s.tx.PrepareContext(in.s.ctx, in.sql(in.perStmt))
		if err != nil {
			in.err = fmt.Errorf("prepare insert into %s: %w", in.table, err)
			return in.err
		}
		in.full = st
	}
	if _, err := in.full.ExecContext(in.s.ctx, in.buf...); err != nil {
		in.err = fmt.Errorf("insert into %s: %w", in.table, err)
		return in.err
	}
	in.buf, in.rows = in.buf[:0], 0
	return nil
}

// close writes the remaining rows and releases the prepared statement.
func (in *inserter) close() error {
	if in.full != nil {
		defer in.full.Close()
	}
	if in.err != nil {
		return in.err
	}
	if in.rows == 0 {
		return nil
	}
	if _, err := in.s.tx.ExecContext(in.s.ctx, in.sql(in.rows), in.buf...); err != nil {
		return fmt.Errorf("insert into %s: %w", in.table, err)
	}
	in.buf, in.rows = in.buf[:0], 0
	return nil
}
