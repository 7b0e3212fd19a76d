package schedule_test

import (
	"testing"
	"time"

	"github.com/consign/consign/schedule"
)

var (
	every5     = schedule.Token{Type: schedule.Interval, Start: civil(1970, 2, 1, 0, 0), MinuteSpan: 5}
	patchTues  = schedule.Token{Type: schedule.MonthlyByWeekday, Start: civil(2020, 1, 1, 22, 0), Day: 3, WeekOrder: 2, ForNumberOfMonths: 1}
	benchAfter = time.Date(2031, 11, 2, 5, 3, 0, 0, time.UTC) // hours before New York falls back
)

func BenchmarkNextEvery5MinutesNewYork(b *testing.B) {
	for b.Loop() {
		every5.Next(benchAfter, newYork)
	}
}

func BenchmarkNextEvery5MinutesUTC(b *testing.B) {
	for b.Loop() {
		every5.Next(benchAfter, nil)
	}
}

func BenchmarkNextMonthlyNewYork(b *testing.B) {
	for b.Loop() {
		patchTues.Next(benchAfter, newYork)
	}
}

func BenchmarkPrevEvery5MinutesNewYork(b *testing.B) {
	for b.Loop() {
		every5.Prev(benchAfter, newYork)
	}
}

func BenchmarkBetween100Every5MinutesNewYork(b *testing.B) {
	for b.Loop() {
		every5.Between(benchAfter, benchAfter.AddDate(0, 0, 1), newYork, 100)
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		schedule.Parse("1033BC7B10100010")
	}
}
