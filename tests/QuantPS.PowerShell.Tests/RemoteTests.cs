using System.Management.Automation;
using QuantPS.Gguf;

namespace QuantPS.PowerShell.Tests;

/// <summary>-Uri: headers read over HTTP range requests from a loopback server, and remote failures as ErrorRecords.</summary>
public sealed class RemoteTests : IClassFixture<PowerShellSession>, IDisposable
{
    private readonly PowerShellSession _session;
    private readonly RangeServer _server;

    public RemoteTests(PowerShellSession session)
    {
        _session = session;
        var folder = Path.Combine(session.TempFolder, "served");
        Directory.CreateDirectory(folder);
        ModelFiles.WriteTiny(Path.Combine(folder, "tiny.gguf"), name: "remote");
        ModelFiles.WriteBadMagic(Path.Combine(folder, "bad.gguf"));
        _server = new RangeServer(folder);
    }

    public void Dispose() => _server.Dispose();

    [Fact]
    public void Uri_reads_the_summary_of_a_remote_model()
    {
        var uri = _server.UriOf("tiny.gguf");

        var info = _session.Run("Get-GgufInfo -Uri $Uri", ("Uri", uri)).Single<GgufModelInfo>();

        Assert.Equal("remote", info.Name);
        Assert.Equal(uri.AbsoluteUri, info.Path);
        Assert.Equal(ModelFiles.TinyParameterCount, info.ParameterCount);
    }

    [Fact]
    public void Uri_with_Tensor_lists_the_remote_tensor_table()
    {
        var result = _session.Run("Get-GgufInfo -Uri $Uri -Tensor -RemoteOptions @{ Timeout = '00:00:30' }", ("Uri", _server.UriOf("tiny.gguf")));

        Assert.Empty(result.Errors);
        Assert.Equal(["token_embd.weight", "output_norm.weight"], result.Objects<GgufTensorInfo>().Select(t => t.Name));
    }

    [Fact]
    public void Objects_with_a_Uri_property_bind()
    {
        var result = _session.Run("[pscustomobject]@{ Uri = $Uri } | Get-GgufInfo", ("Uri", _server.UriOf("tiny.gguf")));

        Assert.Equal("remote", result.Single<GgufModelInfo>().Name);
    }

    [Fact]
    public void A_missing_remote_file_is_GgufFileNotFound_and_the_next_is_still_read()
    {
        var result = _session.Run("Get-GgufInfo -Uri $Missing, $Good", ("Missing", _server.UriOf("missing.gguf")), ("Good", _server.UriOf("tiny.gguf")));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufFileNotFound,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal(_server.UriOf("missing.gguf").AbsoluteUri, error.TargetObject);
        Assert.Single(result.Objects<GgufModelInfo>());
    }

    [Fact]
    public void A_server_error_is_GgufRemoteError_ResourceUnavailable()
    {
        var result = _session.Run("Get-GgufInfo -Uri $Uri", ("Uri", _server.UriOf("fail/model.gguf")));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufRemoteError,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceUnavailable, error.CategoryInfo.Category);
    }

    [Fact]
    public void An_unreachable_server_is_GgufRemoteError_ConnectionError()
    {
        var uri = new Uri($"http://127.0.0.1:{RangeServer.FreePort()}/model.gguf");

        var result = _session.Run("Get-GgufInfo -Uri $Uri", ("Uri", uri));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufRemoteError,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
    }

    [Fact]
    public void A_non_http_Uri_is_an_invalid_argument()
    {
        var result = _session.Run("Get-GgufInfo -Uri 'ftp://example.invalid/model.gguf'");

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufInvalidArgument,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [Fact]
    public void Test_Gguf_checks_remote_files()
    {
        var result = _session.Run(
            "Test-Gguf -Uri $Good -Quiet; Test-Gguf -Uri $Bad -Quiet; Test-Gguf -Uri $Bad",
            ("Good", _server.UriOf("tiny.gguf")), ("Bad", _server.UriOf("bad.gguf")));

        Assert.Empty(result.Errors);
        Assert.Equal(true, result.Output[0].BaseObject);
        Assert.Equal(false, result.Output[1].BaseObject);
        var finding = Assert.IsType<GgufFinding>(result.Output[2].BaseObject);
        Assert.Equal("InvalidMagic", finding.Check);
        Assert.Equal(_server.UriOf("bad.gguf").AbsoluteUri, ScriptResult.Note(result.Output[2], "Path"));
    }

    [Fact]
    public void Stopping_the_pipeline_cancels_a_remote_read()
    {
        var hang = _server.UriOf("hang/model.gguf");
        var script = $"Get-GgufInfo -Uri '{hang}' -RemoteOptions @{{ Timeout = [System.Threading.Timeout]::InfiniteTimeSpan }}";

        using var shell = _session.Start(script, out var running);
        Assert.True(_server.HangingRequests.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the request never reached the server");
        var stopping = shell.BeginStop(null, null);

        // Without cancellation the read would wait forever: finishing at all proves the token was honoured.
        var stopped = stopping.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30));
        if (!stopped)
        {
            _server.ReleaseHangs(); // drop the connection so the stuck read ends and this test fails instead of hanging
        }

        Assert.True(stopped, "the remote read ignored StopProcessing");
        shell.EndStop(stopping);
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        Assert.Throws<PipelineStoppedException>(() => shell.EndInvoke(running));
    }
}
