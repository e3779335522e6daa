package gitobj

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"writ.dev/writ/test/fixtures"
)

func corpus(t testing.TB) string { return fixtures.Corpus(t) }

// Every real commit parses, hashes to its file name, and its payload is the object without the
// gpgsig header, byte for byte.
func TestRealCommits(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpus(t), "*", "*.commit"))
	more, _ := filepath.Glob(filepath.Join(corpus(t), "*", "*", "*.commit"))
	files = append(files, more...)
	if len(files) < 20 {
		t.Fatalf("found only %d commits", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseCommit(raw)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		base := filepath.Base(f)
		sha := strings.TrimSuffix(base[strings.LastIndex(base, "-")+1:], ".commit")
		if !strings.HasPrefix(base, "tampered-") && Hash("commit", raw) != sha {
			t.Errorf("%s: hash %s", base, Hash("commit", raw))
		}
		if strings.HasPrefix(base, "unsigned-") != (c.Signature == nil) {
			t.Errorf("%s: signature presence wrong", base)
		}
		if c.Signature != nil {
			again, err := ParseCommit(c.Payload)
			if err != nil || again.Signature != nil || !strings.HasPrefix(string(c.Signature), "-----BEGIN ") {
				t.Errorf("%s: payload/signature split wrong", base)
			}
			if len(c.Payload)+len(c.Signature) >= len(raw) {
				t.Errorf("%s: payload not shorter than the object", base)
			}
		}
		if c.Committer.When.IsZero() || c.Tree == "" {
			t.Errorf("%s: headers not parsed: %+v", base, c)
		}
	}
}

const tree = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
const who = "author A <a@example.com> 1700000000 +0100\ncommitter C <c@example.com> 1700000001 -0230\n"

func TestParseCommit(t *testing.T) {
	raw := tree + "parent 1111111111111111111111111111111111111111\nparent 2222222222222222222222222222222222222222\n" + who +
		"gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\nmergetag object x\n continued\n\nmsg\n"
	c, err := ParseCommit([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Parents) != 2 || c.Author.Email != "a@example.com" || c.Committer.When.Unix() != 1700000001 {
		t.Fatalf("%+v", c)
	}
	if _, off := c.Committer.When.Zone(); off != -(2*3600 + 30*60) {
		t.Fatalf("zone offset %d", off)
	}
	if string(c.Signature) != "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----" {
		t.Fatalf("signature %q", c.Signature)
	}
	want := tree + "parent 1111111111111111111111111111111111111111\nparent 2222222222222222222222222222222222222222\n" + who + "mergetag object x\n continued\n\nmsg\n"
	if string(c.Payload) != want {
		t.Fatalf("payload %q", c.Payload)
	}
}

func TestParseCommitRejectsAmbiguity(t *testing.T) {
	for name, raw := range map[string]string{
		"duplicate tree":       tree + tree + who + "\nm",
		"duplicate author":     tree + who + "author B <b@x> 1 +0000\n\nm",
		"duplicate committer":  tree + who + "committer B <b@x> 1 +0000\n\nm",
		"duplicate gpgsig":     tree + who + "gpgsig a\ngpgsig b\n\nm",
		"leading continuation": " x\n" + tree + who + "\nm",
		"no tree":              who + "\nm",
		"tree not first":       who + tree + "\nm",
		"bad tree":             "tree xyz\n" + who + "\nm",
		"no committer":         tree + "author A <a@x> 1 +0000\n\nm",
		"bad time":             tree + "author A <a@x> soon +0000\ncommitter C <c@x> 1 +0000\n\nm",
		"bad zone":             tree + "author A <a@x> 1 0100\ncommitter C <c@x> 1 +0000\n\nm",
		"no email":             tree + "author A 1 +0000\ncommitter C <c@x> 1 +0000\n\nm",
		"unterminated":         tree + "author A <a@x> 1 +0000",
	} {
		if _, err := ParseCommit([]byte(raw)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseTag(t *testing.T) {
	head := "object 1111111111111111111111111111111111111111\ntype commit\ntag approve/alice\ntagger A <a@example.com> 1700000000 +0000\n\nLGTM\n"
	sig := "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
	tg, err := ParseTag([]byte(head + sig))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Name != "approve/alice" || tg.Object[:4] != "1111" || string(tg.Payload) != head || string(tg.Signature) != sig || string(tg.Message) != "LGTM\n" {
		t.Fatalf("%+v", tg)
	}
	unsigned, err := ParseTag([]byte(head))
	if err != nil || unsigned.Signature != nil {
		t.Fatalf("unsigned tag: %v %+v", err, unsigned)
	}
	// An armor header inside a line is message text, not a signature.
	inline := head[:len(head)-1] + " see -----BEGIN PGP SIGNATURE----- above\n"
	if tg, err := ParseTag([]byte(inline)); err != nil || tg.Signature != nil {
		t.Fatalf("inline armor taken as signature: %v", err)
	}
	// As git does, the last armor line starts the signature: an armored block quoted in the
	// message is part of the signed payload.
	quoting := head + "-----BEGIN SSH SIGNATURE-----\nquoted\n-----END SSH SIGNATURE-----\n"
	if tg, err := ParseTag([]byte(quoting + sig)); err != nil || string(tg.Payload) != quoting || string(tg.Signature) != sig {
		t.Fatalf("quoted armor: %v %q / %q", err, tg.Payload, tg.Signature)
	}
	if _, err := ParseTag([]byte("object 1111111111111111111111111111111111111111\ntype commit\ntag a\ntag b\n\nm")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate tag header accepted: %v", err)
	}
}
