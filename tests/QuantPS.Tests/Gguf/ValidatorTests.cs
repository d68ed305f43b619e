using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>Test-Gguf's engine: every problem listed, severities that a script can gate on.</summary>
public sealed class ValidatorTests
{
    [Fact]
    public void A_good_model_has_no_error_or_incompatibility()
    {
        var findings = GgufValidator.Validate(SharedData.File("models/tinyllamas-stories260K/stories260K.gguf"));
        Assert.DoesNotContain(findings, f => f.Severity >= GgufSeverity.Incompatible);
    }

    [Fact]
    public void A_version1_file_is_readable_but_incompatible_with_llama_cpp()
    {
        var findings = GgufValidator.Validate(SharedData.File("models/gguf-v1/tinyllamas-stories-260k-f32.gguf"));
        var finding = Assert.Single(findings, f => f.Severity >= GgufSeverity.Incompatible);
        Assert.Equal(("GgufVersion1", GgufSeverity.Incompatible), (finding.Check, finding.Severity));
    }

    [Fact]
    public void An_unreadable_file_is_one_error_finding_not_an_exception()
    {
        using var temp = new TempFolder();
        var finding = Assert.Single(GgufValidator.Validate(temp.Write("bad.gguf", "GGML-not-gguf"u8.ToArray())));
        Assert.Equal((nameof(GgufErrorKind.InvalidMagic), GgufSeverity.Error), (finding.Check, finding.Severity));

        var missing = Assert.Single(GgufValidator.Validate(temp.File("absent.gguf")));
        Assert.Equal(nameof(GgufErrorKind.FileNotFound), missing.Check);
    }

    [Fact]
    public void Recoverable_errors_are_all_listed()
    {
        using var temp = new TempFolder();
        var bytes = new RawGguf().Header(3, 2, 2).KvString("general.architecture", "llama").KvString("general.architecture", "again")
            .TensorInfo("a", [8], 0, 0).TensorInfo("b", [8], 0, 40).PadTo(32).Zeros(128).ToArray();

        var checks = GgufValidator.Validate(temp.Write("x.gguf", bytes)).Select(f => f.Check).ToArray();

        Assert.Equal(["DuplicateKey", "TensorMisaligned"], checks);
    }

    [Fact]
    public void Risky_chat_templates_missing_architecture_and_nested_arrays_are_reported()
    {
        using var temp = new TempFolder();
        var path = temp.File("t.gguf");
        GgufWriter.Write(path,
        [
            GgufMetadataEntry.Of("tokenizer.chat_template", "{{ cycler.__init__.__globals__.os.popen('id').read() }}{% for m in messages %}{{ m.content }}{% endfor %}"),
            GgufMetadataEntry.Of("tokenizer.chat_template.tool_use", "{% include 'other.jinja' %}"),
            GgufMetadataEntry.Of("x.nested", new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.UInt8, new byte[] { 1 }) })),
        ], [new GgufTensorSpec("w", GgmlType.F32, [4])], _ => new byte[16]);

        var findings = GgufValidator.Validate(path);

        Assert.Contains(findings, f => f is { Check: "MissingArchitecture", Severity: GgufSeverity.Incompatible });
        Assert.Contains(findings, f => f is { Check: "NestedArray", Severity: GgufSeverity.Incompatible, Subject: "x.nested" });
        var template = findings.Where(f => f.Check == "SuspiciousChatTemplate").ToArray();
        Assert.All(template, f => Assert.Equal(GgufSeverity.Warning, f.Severity));
        Assert.Contains(template, f => f.Message.Contains("__globals__", StringComparison.Ordinal));
        Assert.Contains(template, f => f.Subject == "tokenizer.chat_template.tool_use");
    }

    [Fact]
    public void Ordinary_chat_templates_raise_nothing()
    {
        using var temp = new TempFolder();
        var path = temp.File("ok.gguf");
        const string chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        GgufWriter.Write(path, [GgufMetadataEntry.Of("general.architecture", "qwen2"), GgufMetadataEntry.Of("tokenizer.chat_template", chatml)], [], _ => default);

        Assert.Empty(GgufValidator.Validate(path));
    }
}
