using System.Management.Automation;
using QuantPS.Inference.Generation;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>Invoke-LocalLlm, Open-LlmModel and Close-LlmModel in a hosted session, on stories260K.</summary>
public sealed class InvokeLocalLlmTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private const string Invoke = "QuantPS.PowerShell.InvokeLocalLlmCommand";

    private static string GoldenText(string folder, string prompt) => File.ReadAllText(SharedData.File($"golden/logits/{folder}/{prompt}.gen_text.txt"));

    private static string PromptText(string prompt) => File.ReadAllText(SharedData.File($"golden/text/prompts/{prompt}.txt"));

    [Fact]
    public void Greedy_from_BOS_alone_tells_llama_cpps_story()
    {
        var result = session.Run("Invoke-LocalLlm -Model $Model -Temperature 0 -MaxTokens 48", ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var reply = result.Single<LocalLlmResult>();
        Assert.Equal(GoldenText("stories260K-F32", "p0_empty"), reply.Text);
        Assert.Equal(1, reply.PromptTokens);
        Assert.Equal(48, reply.GeneratedTokens);
        Assert.Equal(StopReason.MaxTokens, reply.StopReason);
        Assert.True(reply.TokensPerSecond > 0);
        Assert.Equal("llama", reply.Model); // stories260K's general.name
    }

    [Fact]
    public void Pipeline_prompts_load_the_model_once_and_match_llama_cpp()
    {
        var result = session.Run(
            "$Prompts | Invoke-LocalLlm -Model $Model -Temperature 0 -MaxTokens 48 -Verbose 4>&1",
            ("Prompts", new[] { PromptText("p1_short"), PromptText("p2_paragraph") }), ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var replies = result.Output.Select(o => o.BaseObject).OfType<LocalLlmResult>().ToList();
        Assert.Equal([GoldenText("stories260K-F32", "p1_short"), GoldenText("stories260K-F32", "p2_paragraph")], replies.Select(r => r.Text));
        Assert.Equal([22, 168], replies.Select(r => r.PromptTokens));
        Assert.Single(result.Output, o => o.BaseObject is VerboseRecord v && v.Message.StartsWith("Loading ", StringComparison.Ordinal));
    }

    [Fact]
    public void Stream_writes_the_pieces_first_and_the_result_last()
    {
        var result = session.Run("Invoke-LocalLlm 'Once upon a time' -Model $Model -Temperature 0 -MaxTokens 16 -Stream", ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var reply = Assert.IsType<LocalLlmResult>(result.Output[^1].BaseObject);
        var pieces = result.Output.Take(result.Output.Count - 1).Select(o => Assert.IsType<string>(o.BaseObject)).ToList();
        Assert.True(pieces.Count > 1);
        Assert.Equal(reply.Text, string.Concat(pieces));
    }

    [Fact]
    public void A_seed_replays_the_same_text_and_the_result_reports_the_seed()
    {
        var result = session.Run(
            """
            $a = Invoke-LocalLlm 'The dog' -Model $Model -MaxTokens 24 -Seed 1234
            $b = Invoke-LocalLlm 'The dog' -Model $Model -MaxTokens 24 -Seed 1234
            $c = Invoke-LocalLlm 'The dog' -Model $Model -MaxTokens 24 -Seed 99
            $a.Text -eq $b.Text
            $a.Seed
            $a.Text -ne $c.Text
            """,
            ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        Assert.True((bool)result.Output[0].BaseObject);
        Assert.Equal(1234u, result.Output[1].BaseObject);
        Assert.True((bool)result.Output[2].BaseObject);
    }

    [Fact]
    public void Stop_strings_end_the_text_before_them()
    {
        var result = session.Run("Invoke-LocalLlm -Model $Model -Temperature 0 -MaxTokens 48 -Stop 'Lily'", ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var reply = result.Single<LocalLlmResult>();
        Assert.Equal(" Once upon a time, there was a little girl named ", reply.Text);
        Assert.Equal(StopReason.StopString, reply.StopReason);
    }

    [Theory]
    [InlineData("llama-moe")]
    [InlineData("qwen3moe")]
    [InlineData("qwen2moe")]
    [InlineData("phimoe")]
    public void A_mixture_of_experts_model_generates_llama_cpps_greedy_tokens(string name)
    {
        var folder = Directory.CreateTempSubdirectory("quantps-moe-");
        try
        {
            var model = SyntheticExperts.Write(folder.FullName, SyntheticExperts.Get(name));
            var result = session.Run("Invoke-LocalLlm -Model $Model -Prompt $Prompt -Temperature 0 -MaxTokens 48 -IgnoreEos",
                ("Model", model), ("Prompt", PromptText("p1_short")));

            Assert.Empty(result.Errors);
            var reply = result.Single<LocalLlmResult>();
            var expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", $"synth-256-{name}.p1_short.greedy48.ids.txt"))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse);
            Assert.Equal((22, 48), (reply.PromptTokens, reply.GeneratedTokens));
            Assert.Equal(expected, reply.TokenIds);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void ContextShift_generates_past_a_full_context()
    {
        var result = session.Run(
            """
            Invoke-LocalLlm 'Once upon a time' -Model $Model -Temperature 0 -ContextLength 64 -MaxTokens 150 -IgnoreEos -ContextShift
            Invoke-LocalLlm 'Once upon a time' -Model $Model -Temperature 0 -ContextLength 64 -MaxTokens 150 -IgnoreEos
            """,
            ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var replies = result.Objects<LocalLlmResult>();
        Assert.Equal((150, StopReason.MaxTokens), (replies[0].GeneratedTokens, replies[0].StopReason));
        Assert.Equal(StopReason.ContextFull, replies[1].StopReason);
        Assert.StartsWith(replies[1].Text, replies[0].Text, StringComparison.Ordinal); // the same text until the first shift

        var badKeep = session.Run("Invoke-LocalLlm 'x' -Model $Model -ContextShift -Keep -2", ("Model", ModelFiles.Stories));
        Assert.Equal("ParameterArgumentValidationError," + Invoke, Assert.Single(badKeep.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void An_open_model_serves_many_calls_until_closed()
    {
        var result = session.Run(
            """
            $m = Open-LlmModel $Model
            $m
            (Invoke-LocalLlm -Model $m -Temperature 0 -MaxTokens 5).GeneratedTokens
            (Invoke-LocalLlm 'Tom' -Model $m -Temperature 0 -MaxTokens 5).GeneratedTokens
            $m | Close-LlmModel
            $m.IsOpen
            Invoke-LocalLlm 'Tom' -Model $m -MaxTokens 5
            """,
            ("Model", ModelFiles.Stories));

        var handle = Assert.IsType<LlmModelHandle>(result.Output[0].BaseObject);
        Assert.Equal("llama", handle.Architecture);
        Assert.Equal(5, handle.LayerCount);
        Assert.Equal(5, result.Output[1].BaseObject);
        Assert.Equal(5, result.Output[2].BaseObject);
        Assert.False((bool)result.Output[3].BaseObject);
        Assert.Equal("LlmModelClosed," + Invoke, Assert.Single(result.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void Messages_and_SystemPrompt_are_formatted_by_the_chat_template()
    {
        var result = session.Run(
            """
            Invoke-LocalLlm -Model $Model -Messages @{ role = 'user'; content = 'Hi' } -SystemPrompt 'Be brief.' -MaxTokens 2 -Temperature 0
            Invoke-LocalLlm 'Hi' -Model $Model -ChatTemplate llama2 -MaxTokens 2 -Temperature 0
            """,
            ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var replies = result.Objects<LocalLlmResult>();
        // stories260K has no tokenizer.chat_template: llama.cpp falls back to chatml.
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", replies[0].Prompt);
        Assert.StartsWith("[INST]", replies[1].Prompt.TrimStart());
    }

    [Fact]
    public void Failures_carry_stable_ErrorIds()
    {
        var vocabOnly = SharedData.File("models/llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
        var missing = session.Run("Invoke-LocalLlm 'x' -Model ./no-such-model.gguf");
        var unsupported = session.Run("Open-LlmModel $Model", ("Model", vocabOnly));
        var tooLong = session.Run("Invoke-LocalLlm $Prompt -Model $Model -ContextLength 16", ("Prompt", PromptText("p2_paragraph")), ("Model", ModelFiles.Stories));
        var badTemplate = session.Run("Invoke-LocalLlm 'x' -Model $Model -ChatTemplate no-such-template", ("Model", ModelFiles.Stories));

        Assert.Contains(missing.Errors, e => e.FullyQualifiedErrorId.StartsWith("GgufFileNotFound,", StringComparison.Ordinal));
        Assert.Equal("LlmUnsupportedArchitecture,QuantPS.PowerShell.OpenLlmModelCommand", Assert.Single(unsupported.Errors).FullyQualifiedErrorId);
        Assert.Contains("gpt2", unsupported.Errors[0].Exception.Message);
        Assert.Contains("llama, qwen2, qwen2moe, qwen3, qwen3moe, phi3, phimoe, gemma, gemma2", unsupported.Errors[0].Exception.Message); // what is supported
        Assert.Equal("LlmContextFull," + Invoke, Assert.Single(tooLong.Errors).FullyQualifiedErrorId);
        Assert.Equal("ChatTemplateUnknownName," + Invoke, Assert.Single(badTemplate.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void Stopping_ends_generation_promptly()
    {
        using var shell = session.Start($"Invoke-LocalLlm -Model '{ModelFiles.Stories}' -IgnoreEos -ContextLength 2048 -Stream", out var running);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (shell.Streams.Information.Count == 0 && !running.IsCompleted && DateTime.UtcNow < deadline && shell.InvocationStateInfo.State != PSInvocationState.Running)
        {
            Thread.Sleep(1);
        }

        Thread.Sleep(200);
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        shell.Stop();
        try
        {
            shell.EndInvoke(running);
        }
        catch (PipelineStoppedException)
        {
            // expected
        }

        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"stopping took {stopping.Elapsed}");
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
    }

    [Theory]
    [InlineData("Invoke-LocalLlm", "Prompt,Messages,Model,Stream,Seed,ContextShift,Keep")]
    [InlineData("Open-LlmModel", "Path,LiteralPath")]
    [InlineData("Close-LlmModel", "Model")]
    public void Cmdlets_have_help_with_synopsis_parameters_and_examples(string command, string expected)
    {
        var help = session.Help(command);
        Assert.DoesNotContain(command + " ", help.Synopsis);
        Assert.True(help.ExampleCount >= 2, "fewer than two examples");
        var parameters = help.Parameters;
        Assert.All(expected.Split(','), p => Assert.Contains(p, parameters));
    }
}
