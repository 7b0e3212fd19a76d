package collection

// SetLoadSizes sets how many records PutEncodedDevices transcodes per
// parallel step and how many bitmap words an evaluation's goroutine claims
// at a time, so that tests reach the parallel paths with few devices.
func SetLoadSizes(e *Engine, batch, words int) {
	e.batch, e.chunk = batch, words
}
