package provenance

import (
	"context"
	"testing"
	"time"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

const benchCommits = 10_000

// gitSample is how many commits `git verify-commit` checks for the baseline; its per-commit time
// is scaled to benchCommits.
const gitSample = 100

func bulkPolicy(format string, b *fixtures.BulkRepo) v1alpha1.TrustPolicySpec {
	if format == "ssh" {
		return v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: b.AllowedSigners}}
	}
	return v1alpha1.TrustPolicySpec{OpenPGP: &v1alpha1.OpenPGPTrust{Keys: []string{b.PublicKey}}}
}

// BenchmarkVerifyRange verifies a 10,000-commit range from scratch (a new Verifier each time, so
// nothing is cached) and reports, beside ns/op, the same range's time extrapolated from a loop of
// `git verify-commit` measured in the same run, and the ratio.
func BenchmarkVerifyRange(b *testing.B) {
	for _, format := range []string{"ssh", "openpgp"} {
		b.Run(format, func(b *testing.B) {
			repo := fixtures.NewBulkRepo(b, format, benchCommits)
			spec := bulkPolicy(format, repo)
			perGit := repo.GitVerify(b, repo.Commits[len(repo.Commits)-gitSample:]) / gitSample
			r, err := OpenRepository(repo.Dir)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, err := Compile(spec)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := v.Verify(context.Background(), r, Request{Target: "main"})
				if err != nil || rep.Err() != nil || len(rep.Commits) != benchCommits {
					b.Fatalf("%v %v %d", err, rep.Err(), len(rep.Commits))
				}
			}
			b.StopTimer()
			perOp := b.Elapsed() / time.Duration(b.N)
			gitTotal := perGit * benchCommits
			b.ReportMetric(perOp.Seconds(), "s/10k-commits")
			b.ReportMetric(gitTotal.Seconds(), "git-verify-commit-s/10k")
			b.ReportMetric(float64(gitTotal)/float64(perOp), "x-faster-than-git")
		})
	}
}

// BenchmarkReverifyOneNewCommit verifies the range after one new commit on top of a verified
// 10,000-commit history, as the reconciler does on each fetch.
func BenchmarkReverifyOneNewCommit(b *testing.B) {
	repo := fixtures.NewBulkRepo(b, "ssh", benchCommits)
	v, err := Compile(bulkPolicy("ssh", repo))
	if err != nil {
		b.Fatal(err)
	}
	r, err := OpenRepository(repo.Dir)
	if err != nil {
		b.Fatal(err)
	}
	if rep, err := v.Verify(context.Background(), r, Request{Target: "main"}); err != nil || rep.Err() != nil {
		b.Fatal(err, rep.Err())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		last := repo.Commits[len(repo.Commits)-1]
		next := repo.Append(b, "one more") // written beside r, as a fetch would; r sees it
		b.StartTimer()
		rep, err := v.Verify(context.Background(), r, Request{Target: next, LastVerified: last})
		if err != nil || rep.Err() != nil || len(rep.Commits) != 1 {
			b.Fatalf("%v %v %d", err, rep.Err(), len(rep.Commits))
		}
	}
}
