package cni

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// The Cmd* functions are what skel dispatches to. They parse, connect, run one command and print the result on
// stdout; every error goes back through cniError so the runtime gets code, msg and details.

// CmdAdd is the calico plugin's ADD.
func CmdAdd(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error {
		res, err := p.add(ctx, args)
		if err != nil {
			return err
		}
		return types.PrintResult(res, p.conf.CNIVersion)
	}))
}

// CmdDel is the calico plugin's DEL.
func CmdDel(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error { return p.del(ctx, args) }))
}

// CmdCheck is the calico plugin's CHECK.
func CmdCheck(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error { return p.check(ctx, args) }))
}

// IPAMAdd is calico-ipam's ADD: addresses only.
func IPAMAdd(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error {
		res, err := p.ipamAdd(ctx, args)
		if err != nil {
			return err
		}
		return types.PrintResult(res, p.conf.CNIVersion)
	}))
}

// IPAMDel is calico-ipam's DEL: release by handle.
func IPAMDel(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error {
		return p.release(ctx, HandleID(p.conf.Name, args.ContainerID, args.IfName))
	}))
}

// IPAMCheck is calico-ipam's CHECK.
func IPAMCheck(args *skel.CmdArgs) error {
	return cniError(withPlugin(args, func(ctx context.Context, p *plugin) error { return p.ipamCheck(ctx, args) }))
}

func withPlugin(args *skel.CmdArgs, run func(context.Context, *plugin) error) error {
	p, err := open(args, os.Stderr)
	if err != nil {
		return err
	}
	defer p.close()
	// One invocation per process: the packages below (ipam) log through the default logger, so send their lines
	// to the same places.
	slog.SetDefault(p.log)
	return run(context.Background(), p)
}

// parseLevel maps log_level to a slog level; empty is info.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

// newLogger logs to stderr (stdout carries the result) and, when log_file_path is set, appends to that file too.
// The returned closer closes the file.
func newLogger(c *NetConf, stderr io.Writer) (*slog.Logger, func(), error) {
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, nil, fieldErr("log_level", err.Error(), "must be one of debug, info, warning, error")
	}
	w, closeFile := stderr, func() {}
	if c.LogFilePath != "" {
		if err := os.MkdirAll(filepath.Dir(c.LogFilePath), 0o755); err != nil {
			return nil, nil, fieldErr("log_file_path", err.Error(), "cannot create the directory of %s", c.LogFilePath)
		}
		// O_APPEND keeps the lines of concurrent invocations whole.
		f, err := os.OpenFile(c.LogFilePath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fieldErr("log_file_path", err.Error(), "cannot open %s", c.LogFilePath)
		}
		w, closeFile = io.MultiWriter(stderr, f), func() { _ = f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFile, nil
}
