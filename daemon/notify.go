package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Webhook posts events as JSON to a URL.
type Webhook struct {
	URL       string
	Headers   map[string]string
	OnSuccess bool // also notify successful runs (failures always are)
	Client    *http.Client
	// Errors receives delivery failures (for the log); may be nil.
	Errors func(error)
}

// Notify sends the event if it should; delivery is bounded in time.
func (h *Webhook) Notify(ev Event) {
	if h == nil || h.URL == "" || (ev.Success && !h.OnSuccess) {
		return
	}
	body, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h.Headers {
			req.Header.Set(k, v)
		}
		client := h.Client
		if client == nil {
			client = http.DefaultClient
		}
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("webhook %s: %s", h.URL, resp.Status)
			}
		}
	}
	if err != nil && h.Errors != nil {
		h.Errors(err)
	}
}
