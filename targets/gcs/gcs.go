// Package gcs stores objects in a Google Cloud Storage bucket with
// cloud.google.com/go/storage.
//
// Credentials come from Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server) or a key
// file; STORAGE_EMULATOR_HOST points the client at an emulator. The client's
// own retries are off: the retry layer in targets/retry decides.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/lifeboat-backup/lifeboat/targets"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// Config says where the bucket is and how to write to it.
type Config struct {
	Bucket          targets.Bucket
	CredentialsFile string // a service account key file (default: ADC)
	StorageClass    string // e.g. NEARLINE, COLDLINE (default: the bucket's)
}

// Target is one bucket (and prefix).
type Target struct {
	client *storage.Client
	bucket *storage.BucketHandle
	cfg    Config
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
)

// New connects and checks that the bucket exists and can be read.
func New(ctx context.Context, c Config) (*Target, error) {
	var opts []option.ClientOption
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		opts = append(opts, option.WithoutAuthentication())
	} else if c.CredentialsFile != "" {
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, c.CredentialsFile))
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs client: %w", err)
	}
	client.SetRetry(storage.WithPolicy(storage.RetryNever))
	t := &Target{client: client, bucket: client.Bucket(c.Bucket.Name), cfg: c}
	if _, err := t.bucket.Attrs(ctx); err != nil {
		client.Close()
		if errors.Is(err, storage.ErrBucketNotExist) {
			return nil, fmt.Errorf("gcs bucket %q does not exist", c.Bucket.Name)
		}
		return nil, t.translate("bucket "+c.Bucket.Name, err)
	}
	return t, nil
}

// Location is the gs:// URL.
func (t *Target) Location() string { return t.cfg.Bucket.String() }

// Close releases the client.
func (t *Target) Close() error { return t.client.Close() }

// Put uploads in one request; GCS makes the object visible atomically.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, t.bucket.Object(t.cfg.Bucket.Key(name)), name, data)
}

// PutIfAbsent uploads with the precondition that no object exists.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, t.bucket.Object(t.cfg.Bucket.Key(name)).If(storage.Conditions{DoesNotExist: true}), name, data)
}

// PutFile streams a local file in one request, with its CRC32C.
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := t.bucket.Object(t.cfg.Bucket.Key(name)).NewWriter(ctx)
	w.ChunkSize = 0
	w.StorageClass = t.cfg.StorageClass
	w.SendCRC32C, w.CRC32C = true, h.Sum32()
	if _, err := io.Copy(w, f); err != nil {
		return t.translate(name, err)
	}
	return t.translate(name, w.Close())
}

func (t *Target) put(ctx context.Context, obj *storage.ObjectHandle, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the upload if Write fails
	w := obj.NewWriter(ctx)
	w.ChunkSize = 0 // one request: nothing is visible until it completes
	w.StorageClass = t.cfg.StorageClass
	w.SendCRC32C = true
	w.CRC32C = crc32c(data)
	if _, err := w.Write(data); err != nil {
		return t.translate(name, err)
	}
	return t.translate(name, w.Close())
}

// Get reads a byte range.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		attrs, err := t.bucket.Object(t.cfg.Bucket.Key(name)).Attrs(ctx)
		if err != nil {
			return nil, t.translate(name, err)
		}
		if offset > attrs.Size {
			return nil, fmt.Errorf("%s: range %d+0, size %d: %w", name, offset, attrs.Size, targets.ErrOutOfRange)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	r, err := t.bucket.Object(t.cfg.Bucket.Key(name)).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, t.translate(name, err)
	}
	if length > 0 && r.Attrs.Size < offset+length {
		r.Close()
		return nil, fmt.Errorf("%s: range %d+%d, size %d: %w", name, offset, length, r.Attrs.Size, targets.ErrOutOfRange)
	}
	return targets.CorruptOnRead(r, name, crcMismatch), nil
}

// Stat describes an object.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	a, err := t.bucket.Object(t.cfg.Bucket.Key(name)).Attrs(ctx)
	if err != nil {
		return targets.Info{}, t.translate(name, err)
	}
	return targets.Info{Name: name, Size: a.Size, ModTime: a.Updated}, nil
}

// List iterates over the objects under prefix.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	q := &storage.Query{Prefix: t.cfg.Bucket.Key(prefix)}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
		return err
	}
	it := t.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return t.translate("list "+prefix, err)
		}
		if err := fn(targets.Info{Name: t.cfg.Bucket.ObjectName(a.Name), Size: a.Size, ModTime: a.Updated}); err != nil {
			return err
		}
	}
}

// Delete removes an object; a missing one is not an error.
func (t *Target) Delete(ctx context.Context, name string) error {
	err := t.bucket.Object(t.cfg.Bucket.Key(name)).Delete(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil
	}
	return t.translate(name, err)
}

// translate maps client errors onto the targets sentinels.
func (t *Target) translate(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("gcs bucket %q does not exist", t.cfg.Bucket.Name)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case ge.Code == http.StatusPreconditionFailed:
			return fmt.Errorf("%s: %w", name, targets.ErrAlreadyExists)
		case ge.Code == http.StatusNotFound:
			return fmt.Errorf("%s: %w", name, targets.ErrNotFound)
		case ge.Code == http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%s: %w", name, targets.ErrOutOfRange)
		case ge.Code == http.StatusUnauthorized || ge.Code == http.StatusForbidden:
			return fmt.Errorf("%s: %w (check the credentials): %v", name, targets.ErrPermission, ge.Message)
		case ge.Code == http.StatusTooManyRequests || ge.Code >= 500 || ge.Code == http.StatusRequestTimeout:
			return fmt.Errorf("%s: %w: %v", name, targets.ErrTransient, err)
		}
	}
	return fmt.Errorf("%s: %w", name, err)
}

// crcMismatch reports the client's error for a body whose CRC32C does not
// match the object's (its type is not exported).
func crcMismatch(err error) bool {
	return strings.Contains(err.Error(), "bad CRC on read") || strings.Contains(err.Error(), "object checksum mismatch")
}
