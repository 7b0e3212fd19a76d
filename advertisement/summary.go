package advertisement

// Summary counts the devices of one advertisement by status, in the spirit of
// SMS_ClientAdvertisementSummary and SMS_AdvertisementStatusSummarizer
// (§1.19). It is kept up to date incrementally: when a device's status
// changes, Remove the old status and Add the new one.
//
// Every status counts in exactly one of the counters other than Targeted:
// the delivery track decides; when it has no status the acceptance track
// decides. Download Complete counts as Waiting (the content is ready and the
// program waits to start); Accepted - No Further Status counts as Accepted.
// So the counters other than Targeted always sum to the number of statuses
// added minus those removed. Targeted is the caller's: the number of
// devices in the collection, which may differ from the statuses held
// (devices that have not reported, statuses of devices that left).
type Summary struct {
	Targeted      int
	NoStatus      int
	Accepted      int
	Rejected      int
	Expired       int
	WillNotRerun  int
	Downloading   int
	Waiting       int
	Running       int
	Retrying      int
	RebootPending int
	Succeeded     int
	Failed        int
	Cancelled     int
}

// Add counts cs.
func (s *Summary) Add(cs ClientStatus) { *s.counter(cs)++ }

// Remove uncounts cs, which must have been added before.
func (s *Summary) Remove(cs ClientStatus) { *s.counter(cs)-- }

// counter returns the one counter cs belongs to. Values outside the
// enumerations count as NoStatus.
func (s *Summary) counter(cs ClientStatus) *int {
	switch cs.Delivery {
	case DeliveryWillNotRerun:
		return &s.WillNotRerun
	case DeliveryDownloadInProgress:
		return &s.Downloading
	case DeliveryDownloadComplete, DeliveryWaiting:
		return &s.Waiting
	case DeliveryCancelled:
		return &s.Cancelled
	case DeliveryRunning:
		return &s.Running
	case DeliveryRetrying:
		return &s.Retrying
	case DeliveryFailed:
		return &s.Failed
	case DeliveryRebootPending:
		return &s.RebootPending
	case DeliverySucceeded:
		return &s.Succeeded
	}
	switch cs.Acceptance {
	case AcceptanceAccepted, AcceptanceNoFurtherStatus:
		return &s.Accepted
	case AcceptanceRejected:
		return &s.Rejected
	case AcceptanceExpired:
		return &s.Expired
	}
	return &s.NoStatus
}
