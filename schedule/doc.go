// Package schedule models ConfigMgr 2007 schedule tokens (SMS_ScheduleToken
// and the SMS_ST_* classes, reference §1.8 [S-SCHED]): their 16-hex-digit
// "interval string" form, their validation rules, and the instants at which
// they occur. Advertisement mandatory assignments (§1.9), collection and
// package refresh schedules and maintenance windows (§1.7, §3.6) are all
// built on them.
//
// The package is pure: no I/O, no clock. Every instant is a parameter.
//
// # Encoding
//
// [Parse] and [Token.String] convert between a [Token] and the string
// SMS_ScheduleMethods.ReadFromString and WriteToString use: two 32-bit words,
// high word first, laid out as in §1.8. [ParseList] and [FormatList] handle
// several tokens concatenated in 16-character chunks. Parse accepts only
// strings that String gives back exactly (in upper case): unused bits must be
// zero and every field must be in range.
//
// # Occurrences
//
// A token's Start is a civil (wall-clock) date-time. The occurrences are
// civil date-times too:
//
//   - NonRecurring: Start, once.
//   - Interval: Start + k×(DaySpan, HourSpan, MinuteSpan), counted on the
//     wall clock, so "every day at 01:00" stays at 01:00 across DST changes.
//   - Weekly: Day at Start's time of day, every ForNumberOfWeeks weeks, from
//     the first such day on or after Start.
//   - MonthlyByWeekday: the WeekOrder'th (or last) Day of every
//     ForNumberOfMonths'th month, counting from Start's month.
//   - MonthlyByDate: MonthDay (0 = the last day) of every ForNumberOfMonths'th
//     month, counting from Start's month.
//
// Nothing occurs before Start, and occurrences after the year 9999 are not
// computed.
//
// # Time zones
//
// A token is read in UTC when IsGMT is set, otherwise in the device's time
// zone ([Token.Location]). Each civil occurrence becomes an instant in that
// zone; a wall-clock time a DST change skips moves forward by the gap (a
// daily 02:30 runs at 03:30 on the spring-forward night, never before its
// wall-clock time), and a repeated one follows time.Date. Two civil
// occurrences can thus meet at one instant near a change; [Token.Next],
// [Token.Prev] and [Token.Between] work on the set of instants, so their
// results are sorted and free of duplicates.
//
// These methods use arithmetic, not stepping, so their cost does not grow
// with the distance from Start. They assume that the zone's UTC offsets lie
// within ±16 hours, which holds for every zone in the tz database.
//
// # Maintenance windows
//
// [Token.Openings] turns a token into the spans [occurrence, occurrence +
// Duration) that a maintenance window is open for. [Union] merges the spans
// of all the windows a device gets, as ConfigMgr does (§1.7, §3.6).
package schedule
