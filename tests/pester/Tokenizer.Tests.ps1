#Requires -Version 7.4
# Pester 5 tests for ConvertTo-LlmToken and ConvertFrom-LlmToken, as the module's users test their automation.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noVocab = -not (Find-SharedFile 'models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $llama = Find-SharedFile 'models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf'
    $gpt2 = Find-SharedFile 'models/llama.cpp-vocab/ggml-vocab-gpt-2.gguf'
}

Describe 'ConvertTo-LlmToken' -Skip:$noVocab {
    It 'tokenizes like llama-tokenize: <Text>' -TestCases @(
        @{ Text = 'Hello world'; Ids = @(15043, 3186) }
        @{ Text = ' Hello world'; Ids = @(29871, 15043, 3186) }
        @{ Text = 'Hello, world!'; Ids = @(15043, 29892, 3186, 29991) }
    ) {
        $tokens = ConvertTo-LlmToken -Text $Text -Model $llama
        $tokens | Should -BeOfType ([QuantPS.Inference.Tokenizers.LlmToken])
        $tokens.Id | Should -Be $Ids
    }

    It 'adds BOS only with -AddSpecial' {
        (ConvertTo-LlmToken 'Hello' -Model $llama -AddSpecial -IdOnly)[0] | Should -Be 1
        (ConvertTo-LlmToken 'Hello' -Model $llama -IdOnly)[0] | Should -Not -Be 1
    }

    It 'parses control tokens only with -ParseSpecial' {
        ConvertTo-LlmToken 'a<|endoftext|>' -Model $gpt2 -IdOnly | Should -Not -Contain 50256
        ConvertTo-LlmToken 'a<|endoftext|>' -Model $gpt2 -IdOnly -ParseSpecial | Should -Contain 50256
    }

    It 'takes texts from the pipeline, one sequence each' {
        $tokens = 'Hello', 'world' | ConvertTo-LlmToken -Model $gpt2
        $tokens.Id | Should -Be @(15496, 6894)
        $tokens.Index | Should -Be @(0, 0)
    }

    It 'marks special tokens and gives their text' {
        $bos = ConvertTo-LlmToken 'x' -Model $llama -AddSpecial | Select-Object -First 1
        $bos.IsSpecial | Should -BeTrue
        $bos.Text | Should -Be '<s>'
    }

    It 'stops with GgufFileNotFound when the model is missing' {
        { 'x' | ConvertTo-LlmToken -Model (Join-Path $TestDrive 'none.gguf') -ErrorAction Stop } |
            Should -Throw -ErrorId 'GgufFileNotFound,QuantPS.PowerShell.ConvertToLlmTokenCommand'
    }
}

Describe 'ConvertFrom-LlmToken' -Skip:$noVocab {
    It 'gives the text back from ConvertTo-LlmToken output' {
        'Hello, world! 🦙' | ConvertTo-LlmToken -Model $llama | ConvertFrom-LlmToken -Model $llama |
            Should -Be 'Hello, world! 🦙'
    }

    It 'joins ids from the pipeline into one string' {
        15043, 3186 | ConvertFrom-LlmToken -Model $llama | Should -Be 'Hello world'
    }

    It 'writes or skips special tokens' {
        ConvertFrom-LlmToken -Id 1, 15043, 2 -Model $llama | Should -Be '<s> Hello</s>'
        ConvertFrom-LlmToken -Id 1, 15043, 2 -Model $llama -SkipSpecial | Should -Be ' Hello'
    }

    It 'reports an unknown id as TokenizerInvalidTokenId and decodes the rest' {
        $text = 15043, 99999 | ConvertFrom-LlmToken -Model $llama -ErrorVariable bad -ErrorAction SilentlyContinue
        $text | Should -Be 'Hello'
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'TokenizerInvalidTokenId,*'
    }
}
