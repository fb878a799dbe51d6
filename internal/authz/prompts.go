package authz

// Prompts: prompts.read and prompts.write (create a prompt, add a version,
// move an unprotected label, store a test run) in the prompt's owning
// team; prompts.publish moves a protected label (production, say) there.
const (
	PromptsRead    Action = "prompts.read"
	PromptsWrite   Action = "prompts.write"
	PromptsPublish Action = "prompts.publish"
)

func init() {
	Actions = append(Actions, PromptsRead, PromptsWrite, PromptsPublish)
	for r, as := range map[Role][]Action{
		Owner:     {PromptsRead, PromptsWrite, PromptsPublish},
		Admin:     {PromptsRead, PromptsWrite, PromptsPublish},
		Developer: {PromptsRead, PromptsWrite},
		Viewer:    {PromptsRead},
		Auditor:   {PromptsRead},
	} {
		grants[r] = append(grants[r], as...)
	}
}
