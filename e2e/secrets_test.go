package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsAtRest runs last (file order): after every other test has sent traffic,
// no client key, admin token or provider key may appear in the shared gateway's
// output, and client keys may not be stored in plain text in its data dir.
func TestSecretsAtRest(t *testing.T) {
	g := sharedGateway(t)
	secrets := map[string]string{"provider key": provKey, "admin token": adminToken, "dev key": devKey, "all key": allKey, "probe key": probeKey}
	log := g.log.String()
	for name, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the gateway's log contains the %s", name)
		}
	}
	err := filepath.WalkDir(g.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, name := range []string{"dev key", "all key", "probe key", "admin token"} {
			if bytes.Contains(b, []byte(secrets[name])) {
				t.Errorf("%s stores the %s in plain text", filepath.Base(path), name)
			}
		}
		if bytes.Contains(b, []byte(provKey)) {
			t.Errorf("%s stores the provider key in plain text", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProtocolsSecretsAtRest is TestSecretsAtRest for the protocols gateway, after
// the Anthropic, Gemini and Node tests have sent their traffic (keys in
// Authorization, x-api-key, x-goog-api-key and ?key=): no client key, admin token,
// provider key or AWS secret in its output, and none in plain text in its data dir.
func TestProtocolsSecretsAtRest(t *testing.T) {
	if protoGW == nil {
		t.Skip("the protocols gateway did not run")
	}
	g := protocolsGateway(t)
	secrets := map[string]string{"proto key": protoKey, "node key": nodeKey, "admin token": adminToken,
		"provider key": provKey, "AWS secret access key": awsSecret}
	log := g.log.String()
	for name, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the protocols gateway's log contains the %s", name)
		}
	}
	err := filepath.WalkDir(g.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s stores the %s in plain text", filepath.Base(path), name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
