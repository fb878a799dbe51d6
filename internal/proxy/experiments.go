package proxy

import (
	"context"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
)

type armKey struct{}

// experimentStep puts a request on its experiment's arm. For a model
// under an experiment, the unit's sticky arm (stats.Assign over the
// arms' weights) names the target tried first; the model's other targets
// stay behind it as fallbacks, and a row one of them served is counted
// but left out of the comparison. For a stored prompt under an
// experiment, the version its label served is the arm. The ledger entry
// names the experiment and arm.
func (h *Handler) experimentStep(ctx context.Context, c *Call, next Next) error {
	set := h.opts.Experiments
	if set == nil {
		return next(ctx, c)
	}
	if c.fs != nil && c.fs.model != nil {
		if e := set.ForModel(c.fs.model.Name); e != nil {
			if arm := e.Assign(experimentUnit(e.Unit, c)); arm != nil {
				c.entry.Experiment, c.entry.Arm = e.ID, arm.Name
				ctx = context.WithValue(ctx, armKey{}, arm)
			}
		}
	}
	if c.entry.Prompt != "" && c.entry.Experiment == "" {
		if e := set.ForPrompt(c.entry.Prompt); e != nil {
			for _, a := range e.Arms {
				if a.PromptVersion == c.entry.PromptVersion {
					c.entry.Experiment, c.entry.Arm = e.ID, a.Name
				}
			}
		}
	}
	return next(ctx, c)
}

// experimentUnit is the value assignment sticks to: the key, the end
// user named in the body, or a header; the key when the body or header
// names none.
func experimentUnit(unit string, c *Call) string {
	switch {
	case unit == "user" && c.fs != nil:
		for _, v := range gjson.GetManyBytes(c.fs.body, "user", "metadata.user_id") {
			if v.Str != "" {
				return "u:" + v.Str
			}
		}
	case len(unit) > len("header:") && unit[:len("header:")] == "header:":
		if v := c.r.Header.Get(unit[len("header:"):]); v != "" {
			return "h:" + v
		}
	}
	if c.key != nil {
		return "k:" + c.key.ID
	}
	return ""
}

// pinArm moves the target of the request's experiment arm to the front of
// the plan, keeping its probe flag; a plan without that target (every
// target down, or the arm's target ejected) stays as it is.
func pinArm(ctx context.Context, targets []runtime.Target, plan route.Plan) route.Plan {
	arm, _ := ctx.Value(armKey{}).(*experiment.Arm)
	if arm == nil {
		return plan
	}
	for pos, idx := range plan.Order {
		t := targets[idx]
		if t.Provider.Name() != arm.Provider || t.Model != arm.Model {
			continue
		}
		if pos == 0 {
			return plan
		}
		order := append([]int{idx}, plan.Order[:pos]...)
		order = append(order, plan.Order[pos+1:]...)
		var probe []bool
		if len(plan.Probe) > 0 {
			p := make([]bool, len(plan.Order))
			copy(p, plan.Probe)
			probe = append([]bool{p[pos]}, p[:pos]...)
			probe = append(probe, p[pos+1:]...)
		}
		plan.Order, plan.Probe = order, probe
		return plan
	}
	return plan
}
