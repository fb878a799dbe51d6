package admin_test

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/authz"
)

// The prompt routes' rows of the authorization matrix (may and intents in
// authz_matrix_test.go): prompts are read and written in their owning
// team; a protected label needs prompts.publish there too.
func init() {
	may[authz.PromptsRead] = []authz.Role{owner, adminRole, developer, viewer, auditor}
	may[authz.PromptsWrite] = []authz.Role{owner, adminRole, developer}
	may[authz.PromptsPublish] = []authz.Role{owner, adminRole}

	onPrompt := func(action authz.Action, method, suffix, body string, ok int, publish bool) intent {
		return intent{action, "A A2 B", func(m *mworld, x string) []probe {
			pr := probe{path: m.promptPath(x) + suffix, body: body, see: []check{read(authz.PromptsRead, m.team(x))}, ok: ok}
			if action != authz.PromptsRead {
				pr.need = []check{read(authz.PromptsWrite, m.team(x))}
			}
			if publish {
				pr.need = append(pr.need, read(authz.PromptsPublish, m.team(x)))
			}
			return []probe{pr}
		}}
	}
	rows := map[string]intent{
		"GET /admin/v1/prompts": {authz.PromptsRead, "A A2 B", func(m *mworld, x string) []probe {
			ps := []probe{{name: "?team_id", path: "?team_id=" + m.ids["team:"+x], see: []check{read(authz.TeamsRead, m.team(x))},
				need: []check{within(authz.PromptsRead, m.team(x))}, ok: 200}}
			if x != "A2" {
				ps = append(ps, probe{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
					need: []check{within(authz.PromptsRead, m.org(x))}, ok: 200})
			}
			if x == "A" {
				ps = append(ps, probe{need: []check{within(authz.PromptsRead, platform)}, ok: 200})
			}
			return ps
		}},
		"POST /admin/v1/prompts": {authz.PromptsWrite, "A A2 B", func(m *mworld, x string) []probe {
			see := []check{read(authz.TeamsRead, m.team(x))}
			return []probe{
				{body: fmt.Sprintf(`{"name":%q,"team_id":%q,"version":%s}`, m.uniq("p"), m.ids["team:"+x], promptVersionBody), see: see,
					need: []check{read(authz.PromptsWrite, m.team(x))}, ok: 201},
				{name: "protected", body: fmt.Sprintf(`{"name":%q,"team_id":%q,"protected":["production"]}`, m.uniq("p"), m.ids["team:"+x]), see: see,
					need: []check{read(authz.PromptsWrite, m.team(x)), read(authz.PromptsPublish, m.team(x))}, ok: 201},
			}
		}},
		"GET /admin/v1/prompts/{id}":                          onPrompt(authz.PromptsRead, "GET", "", "", 200, false),
		"POST /admin/v1/prompts/{id}/versions":                onPrompt(authz.PromptsWrite, "POST", "/versions", promptVersionBody, 201, false),
		"GET /admin/v1/prompts/{id}/versions/{version}":       onPrompt(authz.PromptsRead, "GET", "/versions/1", "", 200, false),
		"GET /admin/v1/prompts/{id}/diff":                     onPrompt(authz.PromptsRead, "GET", "/diff?from=1&to=2", "", 200, false),
		"GET /admin/v1/prompts/{id}/history":                  onPrompt(authz.PromptsRead, "GET", "/history?label=production", "", 200, false),
		"POST /admin/v1/prompts/{id}/labels/{label}/rollback": onPrompt(authz.PromptsWrite, "POST", "/labels/staging/rollback", "", 200, false),
		"POST /admin/v1/prompts/{id}/test-runs":               onPrompt(authz.PromptsWrite, "POST", "/test-runs", `{"version":1,"cases":2,"passed":1}`, 201, false),
		"POST /admin/v1/prompts/{id}/test":                    onPrompt(authz.PromptsWrite, "POST", "/test", `{"version":1,"cases":[{"variables":{"text":"x"}}],"api_key":"k"}`, 400, false), // no gateway in this world
		"GET /admin/v1/prompts/{id}/test-runs":                onPrompt(authz.PromptsRead, "GET", "/test-runs?version=1", "", 200, false),
		"PUT /admin/v1/prompts/{id}/labels/{label}": {authz.PromptsWrite, "A A2 B", func(m *mworld, x string) []probe {
			unprotected := onPrompt(authz.PromptsWrite, "PUT", "/labels/staging", `{"version":2}`, 200, false).probes(m, x)
			protected := onPrompt(authz.PromptsWrite, "PUT", "/labels/production", `{"version":1,"split_version":2,"split_weight":10}`, 200, true).probes(m, x)
			protected[0].name = "protected"
			return append(unprotected, protected...)
		}},
	}
	for pattern, in := range rows {
		intents[pattern] = in
	}
}

const promptVersionBody = `{"model":"m","messages":[{"role":"user","content":"Summarise: {{text}}"}],` +
	`"variables":{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}},"message":"first"}`

// promptPath is the path of x's prompt, made the first time: versions 1
// and 2, production (protected) at 1, staging moved from 1 to 2.
func (m *mworld) promptPath(x string) string {
	if id := m.ids["prompt:"+x]; id != "" {
		return "/admin/v1/prompts/" + id
	}
	r := m.must(m.as(superAdmin, "POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"prompt%s","team_id":%q,"protected":["production"],"version":%s}`,
		x, m.ids["team:"+x], promptVersionBody)), 201, "prompt")
	path := "/admin/v1/prompts/" + r.body["id"].(string)
	m.must(m.as(superAdmin, "POST", path+"/versions", promptVersionBody), 201, "prompt version 2")
	for _, l := range []struct{ label, body string }{{"production", `{"version":1}`}, {"staging", `{"version":1}`}, {"staging", `{"version":2}`}} {
		m.must(m.as(superAdmin, "PUT", path+"/labels/"+l.label, l.body), 200, "prompt label")
	}
	m.ids["prompt:"+x] = r.body["id"].(string)
	return path
}
