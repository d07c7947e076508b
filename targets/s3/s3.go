// Package s3 stores objects in an Amazon S3 bucket or any S3-compatible
// store (MinIO, versitygw, Ceph, ...), with github.com/aws/aws-sdk-go-v2.
//
// Credentials and region come from the usual AWS chain (AWS_* variables,
// shared config and profiles, instance roles) unless given explicitly.
// Objects larger than the multipart threshold are uploaded in parts.
// The SDK's own retries are off: the retry layer in targets/retry decides
// for every target alike.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// Config says where the bucket is and how to write to it.
type Config struct {
	Bucket   targets.Bucket // object names are Prefix/name in it
	Endpoint string         // custom endpoint URL for S3-compatible stores
	// PathStyle addresses the bucket in the path (http://host/bucket/key),
	// which most S3-compatible stores need.
	PathStyle bool
	Region    string // discovered from the bucket when empty
	// AccessKey and SecretKey override the credential chain when both set.
	AccessKey, SecretKey string
	Profile              string // shared config profile
	StorageClass         string // e.g. STANDARD_IA, GLACIER_IR (default: the bucket's)
	SSE                  string // server-side encryption: AES256 or aws:kms
	SSEKMSKeyID          string
	// MultipartThreshold and PartSize in bytes (defaults 64 MiB, 16 MiB).
	MultipartThreshold, PartSize int64
}

// Target is one bucket (and prefix).
type Target struct {
	client *s3.Client
	cfg    Config
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
)

// httpClient bounds every phase of a request, so that an unreachable or
// stalled endpoint fails instead of hanging. It stays buildable, so that
// AWS_CA_BUNDLE still applies.
func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = 10 * time.Second
			tr.ResponseHeaderTimeout = 2 * time.Minute
			tr.MaxIdleConnsPerHost = 32
		})
}

// New connects to the bucket and checks that it exists and that the
// credentials are accepted, so that such errors surface at once and plainly.
func New(ctx context.Context, c Config) (*Target, error) {
	if c.MultipartThreshold <= 0 {
		c.MultipartThreshold = 64 << 20
	}
	if c.PartSize <= 0 {
		c.PartSize = 16 << 20
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient()),
		config.WithRetryMaxAttempts(1),
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.AccessKey != "" && c.SecretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1" // a start for discovery; S3-compatible stores mostly ignore it
	}
	newClient := func(region string) *s3.Client {
		return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			o.Region = region
			o.UsePathStyle = c.PathStyle
			// Blobs are authenticated by lifeboat itself; stores that send
			// no response checksum are not worth a log line each.
			o.DisableLogOutputChecksumValidationSkipped = true
			if c.Endpoint != "" {
				o.BaseEndpoint = aws.String(c.Endpoint)
			}
		})
	}
	t := &Target{client: newClient(awsCfg.Region), cfg: c}
	out, err := t.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket.Name)})
	if err != nil {
		region := regionFromError(err)
		if region == "" || c.Region != "" {
			return nil, t.bucketError(err)
		}
		t.client = newClient(region)
		if _, err = t.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket.Name)}); err != nil {
			return nil, t.bucketError(err)
		}
	} else if c.Region == "" && c.Endpoint == "" && out.BucketRegion != nil && *out.BucketRegion != awsCfg.Region {
		t.client = newClient(*out.BucketRegion)
	}
	return t, nil
}

// regionFromError reads the bucket's region from a 301 reply.
func regionFromError(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

func (t *Target) bucketError(err error) error {
	status := httpStatus(err)
	switch {
	case status == http.StatusNotFound:
		return fmt.Errorf("s3 bucket %q does not exist at %s", t.cfg.Bucket.Name, t.endpoint())
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Errorf("s3 bucket %q: access denied (check the credentials and the bucket policy): %w", t.cfg.Bucket.Name, targets.ErrPermission)
	}
	return t.translate("bucket "+t.cfg.Bucket.Name, err)
}

func (t *Target) endpoint() string {
	if t.cfg.Endpoint != "" {
		return t.cfg.Endpoint
	}
	return "AWS"
}

// Location is the s3:// URL.
func (t *Target) Location() string { return t.cfg.Bucket.String() }

// Close does nothing.
func (t *Target) Close() error { return nil }

// Put stores an object. S3 makes a PutObject visible atomically.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, false)
}

// PutIfAbsent uses If-None-Match: * so that an existing object is kept.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, true)
}

// PutFile streams a local file as the object's body (a file can be
// re-read, so the SDK can sign and retry it without holding it in memory).
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > t.cfg.MultipartThreshold {
		data, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		return t.putMultipart(ctx, name, data, false)
	}
	in := &s3.PutObjectInput{
		Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(t.cfg.Bucket.Key(name)),
		Body: f, ContentLength: aws.Int64(fi.Size()), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	t.applyOptions(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	_, err = t.client.PutObject(ctx, in)
	return t.translate(name, err)
}

func (t *Target) put(ctx context.Context, name string, data []byte, exclusive bool) error {
	if int64(len(data)) > t.cfg.MultipartThreshold {
		return t.putMultipart(ctx, name, data, exclusive)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(t.cfg.Bucket.Name),
		Key:           aws.String(t.cfg.Bucket.Key(name)),
		Body:          bytes.NewReader(data), // seekable: the SDK can sign and replay it
		ContentLength: aws.Int64(int64(len(data))),
		// S3 verifies the object against this checksum before storing it.
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if exclusive {
		in.IfNoneMatch = aws.String("*")
	}
	t.applyOptions(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	_, err := t.client.PutObject(ctx, in)
	return t.translate(name, err)
}

func (t *Target) applyOptions(class *types.StorageClass, sse *types.ServerSideEncryption, kms **string) {
	if t.cfg.StorageClass != "" {
		*class = types.StorageClass(t.cfg.StorageClass)
	}
	if t.cfg.SSE != "" {
		*sse = types.ServerSideEncryption(t.cfg.SSE)
	}
	if t.cfg.SSEKMSKeyID != "" {
		*kms = aws.String(t.cfg.SSEKMSKeyID)
	}
}

// putMultipart uploads parts and completes the upload; the object appears
// only at completion. A failed upload is aborted.
func (t *Target) putMultipart(ctx context.Context, name string, data []byte, exclusive bool) (err error) {
	key := t.cfg.Bucket.Key(name)
	// Every part carries a CRC32 that S3 checks; the upload declares it.
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
	t.applyOptions(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	up, err := t.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return t.translate(name, err)
	}
	defer func() {
		if err != nil {
			_, _ = t.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
				Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(key), UploadId: up.UploadId})
		}
	}()
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < int64(len(data)); n, off = n+1, off+t.cfg.PartSize {
		end := min(off+t.cfg.PartSize, int64(len(data)))
		out, err := t.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(data[off:end]), ContentLength: aws.Int64(end - off),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return t.translate(name, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n),
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	}
	cin := &s3.CompleteMultipartUploadInput{Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	if exclusive {
		cin.IfNoneMatch = aws.String("*")
	}
	_, err = t.client.CompleteMultipartUpload(ctx, cin)
	return t.translate(name, err)
}

// Get reads a byte range.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%s: negative offset", name)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(t.cfg.Bucket.Key(name))}
	switch {
	case length == 0:
		// A zero-length range cannot be expressed; check existence and size.
		fi, err := t.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		if offset > fi.Size {
			return nil, fmt.Errorf("%s: range %d+0, size %d: %w", name, offset, fi.Size, targets.ErrOutOfRange)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := t.client.GetObject(ctx, in)
	if err != nil {
		return nil, t.translate(name, err)
	}
	if length > 0 && out.ContentLength != nil && *out.ContentLength != length {
		out.Body.Close()
		return nil, fmt.Errorf("%s: range %d+%d: %w", name, offset, length, targets.ErrOutOfRange)
	}
	return targets.CorruptOnRead(out.Body, name, checksumMismatch), nil
}

// Stat describes an object.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	out, err := t.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(t.cfg.Bucket.Key(name))})
	if err != nil {
		return targets.Info{}, t.translate(name, err)
	}
	return targets.Info{Name: name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List pages through ListObjectsV2.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	p := s3.NewListObjectsV2Paginator(t.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(t.cfg.Bucket.Name), Prefix: aws.String(t.cfg.Bucket.Key(prefix)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return t.translate("list "+prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(targets.Info{Name: t.cfg.Bucket.ObjectName(aws.ToString(o.Key)), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes an object; S3 reports success for a missing one too.
func (t *Target) Delete(ctx context.Context, name string) error {
	_, err := t.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(t.cfg.Bucket.Name), Key: aws.String(t.cfg.Bucket.Key(name))})
	if err = t.translate(name, err); errors.Is(err, targets.ErrNotFound) {
		return nil
	}
	return err
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// translate maps SDK errors onto the targets sentinels.
func (t *Target) translate(name string, err error) error {
	if err == nil {
		return nil
	}
	code := ""
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	status := httpStatus(err)
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf), code == "NoSuchKey", code == "NotFound" && status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	case code == "NoSuchBucket":
		return fmt.Errorf("s3 bucket %q does not exist", t.cfg.Bucket.Name)
	case status == http.StatusPreconditionFailed, code == "PreconditionFailed":
		return fmt.Errorf("%s: %w", name, targets.ErrAlreadyExists)
	case status == http.StatusForbidden, code == "AccessDenied", code == "InvalidAccessKeyId", code == "SignatureDoesNotMatch":
		return fmt.Errorf("%s: %w (%s: check the credentials)", name, targets.ErrPermission, code)
	case status == http.StatusRequestedRangeNotSatisfiable, code == "InvalidRange":
		return fmt.Errorf("%s: %w", name, targets.ErrOutOfRange)
	case code == "EntityTooLarge", code == "QuotaExceeded":
		return fmt.Errorf("%s: %w: %v", name, targets.ErrNoSpace, err)
	case status == http.StatusTooManyRequests, status >= 500, code == "SlowDown", code == "RequestTimeout", code == "InternalError":
		return fmt.Errorf("%s: %w: %v", name, targets.ErrTransient, err)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// checksumMismatch reports the SDK's error for a body whose CRC does not
// match the object's stored checksum (its type is not exported).
func checksumMismatch(err error) bool {
	return strings.HasPrefix(err.Error(), "checksum did not match")
}
