package distpoint

import (
	"errors"
	"testing"

	"github.com/consign/consign"
)

func TestValidate(t *testing.T) {
	ok := DistributionPoint{NALPath: `["Display=\\DP01\"]MSWNET:["SMS_SITE=CEN"]\\DP01\`, Name: "DP01", SiteCode: "CEN", Kind: Standard}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid DP: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*DistributionPoint)
		field string
	}{
		{"no NAL path", func(d *DistributionPoint) { d.NALPath = " " }, "DistributionPoint.NALPath"},
		{"no name", func(d *DistributionPoint) { d.Name = "" }, "DistributionPoint.Name"},
		{"bad site", func(d *DistributionPoint) { d.SiteCode = "CENTRAL" }, "DistributionPoint.SiteCode"},
		{"bad kind", func(d *DistributionPoint) { d.Kind = 9 }, "DistributionPoint.Kind"},
		{"protected without boundaries", func(d *DistributionPoint) { d.Protected = true }, "DistributionPoint.Boundaries"},
	}
	for _, tt := range tests {
		dp := ok
		tt.edit(&dp)
		err := dp.Validate()
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%s: err = %v, want a ValidationError for %s", tt.name, err, tt.field)
		}
	}
}
