package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// SESConfig configures email through Amazon SES v2.
type SESConfig struct {
	Region string
	// AccessKeyID and SecretAccessKey are static credentials; when both are
	// empty the SDK's default chain (environment, instance or pod role) is used.
	AccessKeyID     string
	SecretAccessKey string
	// ConfigurationSet routes the message's events (bounces, opens…) to the
	// destinations configured for it in SES.
	ConfigurationSet string
	// Endpoint overrides the SES endpoint URL (a local test server or a
	// VPC endpoint).
	Endpoint string
	// MaxAttempts is how many times the SDK itself tries a call (default 1:
	// Temporal retries the activity).
	MaxAttempts int
	// Timeout bounds one HTTP call (default 30 s).
	Timeout time.Duration
}

// SES sends email through the Amazon SES v2 SendEmail API. Safe for
// concurrent use.
type SES struct {
	client           *sesv2.Client
	configurationSet string
}

// NewSES builds an SES provider from its settings.
func NewSES(ctx context.Context, cfg SESConfig) (*SES, error) {
	if cfg.Region == "" {
		return nil, permanentf(ReasonConfig, "ses settings have no region")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, permanentf(ReasonConfig, "ses settings need both an access key id and a secret access key")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	httpClient := awshttp.NewBuildableClient().WithTimeout(cfg.Timeout)
	var awsCfg aws.Config
	if cfg.AccessKeyID != "" {
		awsCfg = aws.Config{
			Region:      cfg.Region,
			Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		}
	} else {
		var err error
		awsCfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
		if err != nil {
			return nil, fmt.Errorf("load aws configuration: %w", err)
		}
	}
	awsCfg.HTTPClient = httpClient
	awsCfg.RetryMaxAttempts = cfg.MaxAttempts
	client := sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &SES{client: client, configurationSet: cfg.ConfigurationSet}, nil
}

// Send sends one email. The message's ids go out as SES message tags, so
// SES events (via the configuration set) name the message they are about.
func (s *SES) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.validateFor(ChannelEmail, "ses"); err != nil {
		return Result{}, err
	}
	e := m.Email
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(formatAddress(e.From)),
		Destination:      &types.Destination{ToAddresses: []string{formatAddress(e.To)}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(e.Subject), Charset: aws.String("UTF-8")},
			Body:    &types.Body{},
		}},
	}
	body := in.Content.Simple.Body
	if e.HTML != "" {
		body.Html = &types.Content{Data: aws.String(e.HTML), Charset: aws.String("UTF-8")}
	}
	if e.Text != "" {
		body.Text = &types.Content{Data: aws.String(e.Text), Charset: aws.String("UTF-8")}
	}
	for _, h := range e.extraHeaders() {
		in.Content.Simple.Headers = append(in.Content.Simple.Headers,
			types.MessageHeader{Name: aws.String(h[0]), Value: aws.String(h[1])})
	}
	if e.ReplyTo != "" {
		in.ReplyToAddresses = []string{formatAddress(e.ReplyTo)}
	}
	if s.configurationSet != "" {
		in.ConfigurationSetName = aws.String(s.configurationSet)
	}
	for _, t := range m.tags() {
		if t[1] != "" {
			in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(t[0]), Value: aws.String(SESTagValue(t[1]))})
		}
	}

	var wrote wroteRequest
	out, err := s.client.SendEmail(wrote.trace(ctx), in)
	if err != nil {
		return Result{}, fmt.Errorf("send email via ses: %w", classifySES(err, &wrote))
	}
	return Result{Provider: "ses", ProviderMessageID: aws.ToString(out.MessageId)}, nil
}

// SESTagValue makes s a valid SES tag value: characters outside
// [A-Za-z0-9_-] become '_', and it is cut to 256 characters.
func SESTagValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

// formatAddress writes a mailbox with any non-ASCII display name encoded
// (RFC 2047), as SES and SMTP headers require.
func formatAddress(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.String()
}

// classifySES sorts an SES error into permanent and transient.
func classifySES(err error, wrote *wroteRequest) error {
	var (
		rejected    *types.MessageRejected
		badRequest  *types.BadRequestException
		notVerified *types.MailFromDomainNotVerifiedException
		notFound    *types.NotFoundException
		suspended   *types.AccountSuspendedException
		paused      *types.SendingPausedException
		throttled   *types.TooManyRequestsException
		limit       *types.LimitExceededException
		respErr     *awshttp.ResponseError
		apiErr      smithy.APIError
	)
	switch {
	case errors.As(err, &rejected):
		return &PermanentError{Reason: ReasonRejected, Err: err}
	case errors.As(err, &badRequest):
		// SES answers an address it cannot parse with BadRequest.
		reason := ReasonInvalidMessage
		if strings.Contains(strings.ToLower(badRequest.ErrorMessage()), "address") {
			reason = ReasonInvalidRecipient
		}
		return &PermanentError{Reason: reason, Err: err}
	case errors.As(err, &notVerified), errors.As(err, &notFound), errors.As(err, &suspended), errors.As(err, &paused):
		return &PermanentError{Reason: ReasonConfig, Err: err}
	case errors.As(err, &throttled), errors.As(err, &limit):
		return &TransientError{Reason: ReasonRateLimited, Err: err}
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() > 0: // 0: no answer came
		var header http.Header
		if respErr.Response != nil {
			header = respErr.Response.Header
		}
		return classifyStatus(respErr.HTTPStatusCode(), header, err)
	case errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultClient:
		return &PermanentError{Reason: ReasonClientError, Err: err}
	}
	return classifyNoAnswer(err, wrote)
}
