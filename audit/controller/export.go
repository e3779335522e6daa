package controller

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/evidence"
)

// ExportPath is where the controller serves evidence bundles. Clients reach it through the API
// server's service proxy, so Kubernetes RBAC (get on services/proxy for Writ's service) decides
// who may export; no new credential exists.
const ExportPath = "/v1/audit/export"

// ExportHandler serves GET ExportPath?from=RFC3339&to=RFC3339 as a zip evidence bundle signed
// with key (a function, since the key is loaded after the handler is registered).
func ExportHandler(store audit.Store, key func() ed25519.PrivateKey) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		from, err1 := time.Parse(time.RFC3339, r.URL.Query().Get("from"))
		to, err2 := time.Parse(time.RFC3339, r.URL.Query().Get("to"))
		if err1 != nil || err2 != nil || !from.Before(to) {
			http.Error(w, "from and to must be RFC 3339 times with from before to", http.StatusBadRequest)
			return
		}
		k := key()
		if k == nil {
			http.Error(w, "the audit signing key is not loaded yet: retry shortly", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="writ-evidence-%s-%s.zip"`, from.Format("20060102"), to.Format("20060102")))
		// Errors after the first byte can only truncate the body; the bundle then fails
		// verification, which is the safe outcome.
		if _, err := evidence.Export(r.Context(), store, w, evidence.ExportOptions{From: from, To: to, Key: k}); err != nil {
			ctrl.Log.WithName("audit").Error(err, "evidence export failed", "from", from, "to", to)
			http.Error(w, "export failed: "+err.Error(), http.StatusInternalServerError)
		}
	})
}
