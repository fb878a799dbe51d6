package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Subscriber notices are delivered through product_notices: RecordNotice
// writes a notice's row once across every node (its primary key is the
// subscription, the notice and the lead time), ClaimNotices hands each
// undelivered row to one node at a time for a lease, and FinishNotice
// records the post's outcome: delivered, or tried again later. A node that
// dies between its post and FinishNotice leaves the claim to lapse, and
// the notice is posted again: the body's id lets a receiver drop it.

// Notice is one subscriber notice and its delivery state.
type Notice struct {
	SubscriptionID, Notice, Lead string
	// OrgID is the subscriber's organisation, whose webhook receives it.
	OrgID string
	// Body is the JSON posted.
	Body     []byte
	At       time.Time // when it was recorded
	Attempts int64
	// ClaimedUntil is the end of the claim ClaimNotices handed out.
	ClaimedUntil time.Time
}

// RecordNotice stores notice n, with the audit entry (nil for none) in
// the same transaction, and reports true only to the first caller on any
// node: the notice is then delivered once (ClaimNotices), and audited
// once.
func (s *Store) RecordNotice(ctx context.Context, n Notice, audit *AuditEntry) (bool, error) {
	first := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO product_notices (subscription_id, notice, lead, ts, org_id, body) VALUES ($1,$2,$3,$4,$5,$6)
 ON CONFLICT (subscription_id, notice, lead) DO NOTHING`, n.SubscriptionID, n.Notice, n.Lead, n.At.UnixMicro(), n.OrgID, string(n.Body))
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		if err != nil || k != 1 {
			return err
		}
		first = true
		if audit != nil {
			return insertAudit(ctx, tx, *audit)
		}
		return nil
	})
	return first && err == nil, err
}

// ClaimNotices claims, until now+lease, at most limit notices that are
// not delivered, due (their next try is not after now) and not claimed by
// another node, oldest first. Each row goes to one caller: the claim is a
// conditional update of the row.
func (s *Store) ClaimNotices(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT subscription_id, notice, lead, org_id, body, ts, attempts, claimed_until FROM product_notices
 WHERE delivered_at IS NULL AND next_at <= $1 AND claimed_until <= $1 ORDER BY ts, subscription_id, notice, lead LIMIT $2`,
		now.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	var cands []Notice
	for rows.Next() {
		var n Notice
		var body string
		var ts, claimed int64
		if err := rows.Scan(&n.SubscriptionID, &n.Notice, &n.Lead, &n.OrgID, &body, &ts, &n.Attempts, &claimed); err != nil {
			rows.Close()
			return nil, err
		}
		n.Body, n.At, n.ClaimedUntil = []byte(body), time.UnixMicro(ts).UTC(), time.UnixMicro(claimed)
		cands = append(cands, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	until := now.Add(lease)
	out := cands[:0]
	for _, n := range cands {
		// The claim names the claimed_until read: a node that read the same
		// row a moment later finds it changed and claims nothing.
		res, err := s.w.ExecContext(ctx, `UPDATE product_notices SET claimed_until = $1 WHERE subscription_id = $2 AND notice = $3
 AND lead = $4 AND delivered_at IS NULL AND claimed_until = $5`, until.UnixMicro(), n.SubscriptionID, n.Notice, n.Lead, n.ClaimedUntil.UnixMicro())
		if err != nil {
			return out, err
		}
		if k, err := res.RowsAffected(); err != nil || k != 1 {
			continue
		}
		n.ClaimedUntil = until
		out = append(out, n)
	}
	return out, nil
}

// FinishNotice records the outcome of a claimed notice's post: delivered
// (or given up: done with errText), or to be tried again at next. Only the
// claim's holder changes the row: ErrVersionMismatch when the claim lapsed
// and another node took it.
func (s *Store) FinishNotice(ctx context.Context, n Notice, done bool, errText string, next time.Time) error {
	var res sql.Result
	var err error
	if done {
		res, err = s.w.ExecContext(ctx, `UPDATE product_notices SET delivered_at = $1, attempts = attempts + 1, last_error = $2, claimed_until = 0
 WHERE subscription_id = $3 AND notice = $4 AND lead = $5 AND claimed_until = $6 AND delivered_at IS NULL`,
			time.Now().UnixMicro(), errText, n.SubscriptionID, n.Notice, n.Lead, n.ClaimedUntil.UnixMicro())
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE product_notices SET next_at = $1, attempts = attempts + 1, last_error = $2, claimed_until = 0
 WHERE subscription_id = $3 AND notice = $4 AND lead = $5 AND claimed_until = $6 AND delivered_at IS NULL`,
			next.UnixMicro(), errText, n.SubscriptionID, n.Notice, n.Lead, n.ClaimedUntil.UnixMicro())
	}
	if err != nil {
		return err
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return errors.Join(ErrVersionMismatch, err)
	}
	return nil
}

// NoticeState is a notice's delivery as GET shows it (for tests and the
// console): delivered or not, tries, and the last error.
type NoticeState struct {
	SubscriptionID, Notice, Lead, OrgID string
	Delivered                           bool
	Attempts                            int64
	LastError                           string
}

// ListNotices returns the notices of a subscription ("" for every one).
func (s *Store) ListNotices(ctx context.Context, subscriptionID string) ([]NoticeState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT subscription_id, notice, lead, org_id, delivered_at, attempts, last_error FROM product_notices
 WHERE $1 = '' OR subscription_id = $1 ORDER BY ts, subscription_id, notice, lead`, subscriptionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NoticeState
	for rows.Next() {
		var n NoticeState
		var delivered sql.NullInt64
		if err := rows.Scan(&n.SubscriptionID, &n.Notice, &n.Lead, &n.OrgID, &delivered, &n.Attempts, &n.LastError); err != nil {
			return nil, err
		}
		n.Delivered = delivered.Valid
		out = append(out, n)
	}
	return out, rows.Err()
}

// OrgWebhook is an organisation's notification webhook: subscriber
// notices of its applications go there, signed with its secret. The
// secret is stored only sealed (see internal/secrets), its last four
// characters kept for display.
type OrgWebhook struct {
	OrgID            string
	URL              string
	SecretCiphertext string
	SecretLast4      string
	// Source is "api" or "config" (declared in the file's organisation).
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Rev       int64
}

const orgWebhookColumns = `org_id, url, secret_ciphertext, secret_last4, source, created_at, updated_at, rev`

func scanOrgWebhooks(rows *sql.Rows) ([]OrgWebhook, error) {
	defer rows.Close()
	var out []OrgWebhook
	for rows.Next() {
		var h OrgWebhook
		var created, updated int64
		if err := rows.Scan(&h.OrgID, &h.URL, &h.SecretCiphertext, &h.SecretLast4, &h.Source, &created, &updated, &h.Rev); err != nil {
			return nil, err
		}
		h.CreatedAt, h.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// GetOrgWebhook returns the organisation's webhook, or ErrNotFound.
func (s *Store) GetOrgWebhook(ctx context.Context, orgID string) (OrgWebhook, error) {
	return first(ctx, s.r, scanOrgWebhooks, `SELECT `+orgWebhookColumns+` FROM org_webhooks WHERE org_id = $1`, orgID)
}

// ListOrgWebhooks returns every organisation's webhook.
func (s *Store) ListOrgWebhooks(ctx context.Context) ([]OrgWebhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orgWebhookColumns+` FROM org_webhooks ORDER BY org_id`)
	if err != nil {
		return nil, err
	}
	return scanOrgWebhooks(rows)
}

// PutOrgWebhook creates or replaces the organisation's webhook with the
// audit entry (nil for none), in one transaction. ifRev > 0 requires the
// stored one to be at that revision (ErrVersionMismatch otherwise). It
// returns the new revision.
func (s *Store) PutOrgWebhook(ctx context.Context, h OrgWebhook, ifRev int64, audit *AuditEntry) (int64, error) {
	if h.OrgID == "" || h.URL == "" {
		return 0, errors.New("an organisation webhook needs an organisation and a URL")
	}
	if h.Source == "" {
		h.Source = "api"
	}
	now := time.Now().UnixMicro()
	var rev int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur int64
		switch err := tx.QueryRowContext(ctx, `SELECT rev FROM org_webhooks WHERE org_id = $1`, h.OrgID).Scan(&cur); {
		case errors.Is(err, sql.ErrNoRows):
			if ifRev > 0 {
				return ErrVersionMismatch
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO org_webhooks (`+orgWebhookColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$6,1)`,
				h.OrgID, h.URL, h.SecretCiphertext, h.SecretLast4, h.Source, now); err != nil {
				return err
			}
			rev = 1
		case err != nil:
			return err
		default:
			if ifRev > 0 && ifRev != cur {
				return ErrVersionMismatch
			}
			if _, err := tx.ExecContext(ctx, `UPDATE org_webhooks SET url = $1, secret_ciphertext = $2, secret_last4 = $3, source = $4,
 updated_at = $5, rev = rev + 1 WHERE org_id = $6`, h.URL, h.SecretCiphertext, h.SecretLast4, h.Source, now, h.OrgID); err != nil {
				return err
			}
			rev = cur + 1
		}
		if audit != nil {
			return insertAudit(ctx, tx, *audit)
		}
		return nil
	})
	return rev, err
}

// DeleteOrgWebhook removes the organisation's webhook with the audit
// entry (nil for none); ErrNotFound when it has none.
func (s *Store) DeleteOrgWebhook(ctx context.Context, orgID string, audit *AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM org_webhooks WHERE org_id = $1`, orgID)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return errors.Join(ErrNotFound, err)
		}
		if audit != nil {
			return insertAudit(ctx, tx, *audit)
		}
		return nil
	})
}

// SubscriptionRequestsSince counts the ledger's requests of a
// subscription from since onwards that its plan's request quota counted:
// every one but those Sluice's own limits refused. It seeds the quota on
// a node's first request of the subscription.
func (s *Store) SubscriptionRequestsSince(ctx context.Context, subscriptionID string, since time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM requests WHERE subscription_id = $1 AND subscription_id <> '' AND ts >= $2 AND status <> 'limited'`,
		subscriptionID, since.UnixMicro()).Scan(&n)
	return n, err
}
