package sshsig

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func unix(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

func TestCompile(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t, dir, "ed25519", "k")
	keyOnly := strings.Join(strings.Fields(key)[:2], " ")

	for _, tc := range []struct {
		name, in string
		want     []entry // keyBlob is not compared
	}{
		{"empty", "", nil},
		{"comments and blank lines", "# a comment\n\n   \t\n  # indented comment\r\n", nil},
		{"plain", "alice " + key, []entry{{line: 1, principals: []string{"alice"}, identity: "alice"}}},
		{"quoted with a space", `"Lorenz Leutgeb" ` + keyOnly, []entry{{line: 1, principals: []string{"Lorenz Leutgeb"}, identity: "Lorenz Leutgeb"}}},
		{"quoted list", `"Jane Doe,!Jim Doe"  ` + keyOnly, []entry{{line: 1, principals: []string{"Jane Doe", "!Jim Doe"}, identity: "Jane Doe"}}},
		{"negated first", "!mallory,*@example.com " + keyOnly, []entry{{line: 1, principals: []string{"!mallory", "*@example.com"}, identity: "*@example.com"}}},
		{"every option", `a,b cert-authority,namespaces="git,file",valid-after="20240101Z",valid-before="202501011230" ` + keyOnly + " comment with words",
			[]entry{{line: 1, principals: []string{"a", "b"}, identity: "a", ca: true, namespaces: []string{"git", "file"},
				validAfter: unix("2024-01-01T00:00:00Z"), validBefore: unix("2025-01-01T12:30:00Z")}}},
		{"option names ignore case, UTC suffix", `alice VALID-AFTER="20240101120000utc",Cert-Authority ` + keyOnly,
			[]entry{{line: 1, principals: []string{"alice"}, identity: "alice", ca: true, validAfter: unix("2024-01-01T12:00:00Z")}}},
		{"times without suffix are UTC", `alice valid-before="20240101" ` + keyOnly,
			[]entry{{line: 1, principals: []string{"alice"}, identity: "alice", validBefore: unix("2024-01-01T00:00:00Z")}}},
		{"escaped quote in namespaces", `alice namespaces="a\"b" ` + keyOnly,
			[]entry{{line: 1, principals: []string{"alice"}, identity: "alice", namespaces: []string{`a"b`}}}},
		{"empty namespaces authorises no namespace", `alice namespaces="" ` + keyOnly,
			[]entry{{line: 1, principals: []string{"alice"}, identity: "alice", namespaces: []string{""}}}},
		{"line numbers count comments", "# c\n\nalice " + keyOnly + "\n\tbob " + keyOnly + "\n",
			[]entry{{line: 3, principals: []string{"alice"}, identity: "alice"}, {line: 4, principals: []string{"bob"}, identity: "bob"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Compile([]byte(tc.in))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(v.entries) != len(tc.want) {
				t.Fatalf("%d entries, want %d", len(v.entries), len(tc.want))
			}
			for i, got := range v.entries {
				want := tc.want[i]
				if len(got.keyBlob) == 0 {
					t.Errorf("entry %d has no key", i)
				}
				got.keyBlob = nil
				if got.line != want.line || got.identity != want.identity || got.ca != want.ca ||
					!slices.Equal(got.principals, want.principals) || !slices.Equal(got.namespaces, want.namespaces) ||
					got.validAfter != want.validAfter || got.validBefore != want.validBefore {
					t.Errorf("entry %d = %+v\nwant      %+v", i, got, want)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	dir := t.TempDir()
	caPath, _ := newKey(t, dir, "ed25519", "ca")
	userPath, key := newKey(t, dir, "ed25519", "user")
	cert, err := os.ReadFile(certify(t, dir, caPath, userPath, "alice", "always:forever"))
	if err != nil {
		t.Fatal(err)
	}
	private, err := os.ReadFile(userPath)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, in, want string }{
		{"principals only", "alice", "allowed_signers line 1: principals but no key"},
		{"principals and options only", `alice namespaces="git"`, "line 1: cannot read the public key"},
		{"bad key", "alice ssh-ed25519 AAAA!!!!", "line 1: cannot read the public key"},
		{"key type mismatch", "alice ssh-rsa " + strings.Fields(key)[1], "line 1: cannot read the public key"},
		{"unclosed quote", `"alice ` + key, "line 1: the quoted principals field has no closing double quote"},
		{"text after quote", `"alice"x ` + key, "line 1: text follows the closing quote"},
		{"quote inside field", `al"ice" ` + key, "line 1: a double quote inside the principals field"},
		{"empty principal", "alice,,bob " + key, "line 1: empty principal"},
		{"empty quoted principals", `"" ` + key, "line 1: empty principal"},
		{"bare negation", "alice,! " + key, "line 1: empty principal"},
		{"only negated", "!alice,!bob " + key, "line 1: every principal pattern is negated"},
		{"unknown option", `alice restrict ` + key, `line 1: unknown option "restrict"`},
		{"cert-authority with value", `alice cert-authority="yes" ` + key, "line 1: cert-authority takes no value"},
		{"unquoted value", `alice namespaces=git ` + key, "line 1: namespaces needs a value in double quotes"},
		{"missing value", `alice valid-after ` + key, "line 1: valid-after needs a value in double quotes"},
		{"two namespaces", `alice namespaces="git",namespaces="file" ` + key, "line 1: namespaces is given twice"},
		{"two valid-after", `alice valid-after="20240101",valid-after="20240102" ` + key, "line 1: valid-after is given twice"},
		{"short time", `alice valid-after="2024" ` + key, `line 1: valid-after="2024" is not a time`},
		{"ten digits", `alice valid-after="2024010112" ` + key, "is not a time"},
		{"month 13", `alice valid-before="20241301" ` + key, "is not a time"},
		{"February 30", `alice valid-before="20240230" ` + key, "is not a time"},
		{"sign in time", `alice valid-before="+0240101" ` + key, "is not a time"},
		{"epoch", `alice valid-after="19700101Z" ` + key, "is not a time"},
		{"window inverted", `alice valid-after="20250101",valid-before="20240101" ` + key, "line 1: valid-before is not after valid-after"},
		{"window empty", `alice valid-after="20250101",valid-before="20250101" ` + key, "valid-before is not after valid-after"},
		{"certificate listed", "alice " + string(cert), "line 1: a certificate is listed where a public key belongs"},
		{"error on line 4", "# ok\n\nalice " + key + "\nbob\n", "allowed_signers line 4: principals but no key"},
		{"private key pasted", string(private), "line 1: this looks like a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Compile([]byte(tc.in))
			if err == nil {
				t.Fatalf("Compile accepted it: %d entries", len(v.entries))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			for _, l := range strings.Split(string(private), "\n") {
				if len(l) > 16 && !strings.HasPrefix(l, "-----") && strings.Contains(err.Error(), l) {
					t.Fatal("error message contains private key material")
				}
			}
		})
	}
}

// TestCompileRealFiles compiles the allowed_signers files of the real corpus.
func TestCompileRealFiles(t *testing.T) {
	for dir, n := range map[string]int{"mikaela-allowed-signers": 7, "radicle-heartwood": 12} {
		b, err := os.ReadFile(corpusDir(t) + "/" + dir + "/allowed_signers")
		if err != nil {
			t.Fatal(err)
		}
		v, err := Compile(b)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(v.entries) != n {
			t.Errorf("%s: %d entries, want %d", dir, len(v.entries), n)
		}
	}
}
