package collection

import (
	"testing"
	"time"

	"github.com/consign/consign/schedule"
)

func TestEffectiveWindows(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin") // UTC+1 in early March 2011
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := func(day, h, m int) time.Time { return time.Date(2011, 3, day, h, m, 0, 0, time.UTC) }
	sp := func(a, b time.Time) schedule.Span { return schedule.Span{Start: a, End: b} }
	from, to := at(7, 0, 0), at(9, 0, 0)
	utc1 := window("{UTC}", daily(at(1, 1, 0), time.Hour, true))      // 01:00–02:00 UTC
	local := window("{LOCAL}", daily(at(1, 1, 30), time.Hour, false)) // 01:30–02:30 device time
	late := window("{LATE}", daily(at(1, 23, 30), 2*time.Hour, true)) // 23:30–01:30 UTC
	osd := window("{OSD}", daily(at(1, 12, 0), time.Hour, true))      // 12:00–13:00 UTC
	osd.Type = WindowOSD
	updates := window("{SU}", daily(at(1, 15, 0), time.Hour, true)) // 15:00–16:00 UTC
	updates.Type = WindowUpdates
	disabled := utc1
	disabled.Enabled = false

	for _, tc := range []struct {
		name  string
		ws    []ServiceWindow
		types []WindowType
		loc   *time.Location
		want  []schedule.Span
	}{
		{"union across collections", []ServiceWindow{utc1, local}, nil, berlin,
			[]schedule.Span{sp(at(7, 0, 30), at(7, 2, 0)), sp(at(8, 0, 30), at(8, 2, 0))}},
		{"local time in UTC", []ServiceWindow{local}, nil, time.UTC,
			[]schedule.Span{sp(at(7, 1, 30), at(7, 2, 30)), sp(at(8, 1, 30), at(8, 2, 30))}},
		{"local time in Berlin", []ServiceWindow{local}, nil, berlin,
			[]schedule.Span{sp(at(7, 0, 30), at(7, 1, 30)), sp(at(8, 0, 30), at(8, 1, 30))}},
		{"UTC ignores the device", []ServiceWindow{utc1}, nil, berlin,
			[]schedule.Span{sp(at(7, 1, 0), at(7, 2, 0)), sp(at(8, 1, 0), at(8, 2, 0))}},
		{"disabled ignored", []ServiceWindow{disabled, local}, nil, time.UTC,
			[]schedule.Span{sp(at(7, 1, 30), at(7, 2, 30)), sp(at(8, 1, 30), at(8, 2, 30))}},
		{"other types need asking", []ServiceWindow{osd, updates}, []WindowType{WindowGeneral}, time.UTC, nil},
		{"OSD for a task sequence", []ServiceWindow{utc1, osd, updates}, []WindowType{WindowOSD}, time.UTC,
			[]schedule.Span{sp(at(7, 1, 0), at(7, 2, 0)), sp(at(7, 12, 0), at(7, 13, 0)), sp(at(8, 1, 0), at(8, 2, 0)), sp(at(8, 12, 0), at(8, 13, 0))}},
		{"overlapping the range is whole", []ServiceWindow{late, utc1}, nil, time.UTC,
			[]schedule.Span{sp(at(6, 23, 30), at(7, 2, 0)), sp(at(7, 23, 30), at(8, 2, 0)), sp(at(8, 23, 30), at(9, 1, 30))}},
		{"no windows", nil, nil, time.UTC, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EffectiveWindows(tc.ws, tc.types, from, to, tc.loc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Start.Equal(tc.want[i].Start) || !got[i].End.Equal(tc.want[i].End) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
