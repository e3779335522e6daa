package sealing

// Paths served as kubeseal expects them behind the API server's service proxy.
const (
	CertPath   = "/v1/cert.pem"
	VerifyPath = "/v1/verify"
	RotatePath = "/v1/rotate"
)
