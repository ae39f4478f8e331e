// Pre-tokenizer splits and the Unicode helpers under them, against hand-worked expectations.
#include "io/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "io/tokenizer/unicode.h"
#include "test_support.h"

namespace quantlm::tokenizer {
namespace {

using Words = std::vector<std::string>;

TEST(Unicode, ClassesOfSampleCodePoints) {
  EXPECT_EQ(char_class('a'), CharClass::letter);
  EXPECT_EQ(char_class('Z'), CharClass::letter);
  EXPECT_EQ(char_class('7'), CharClass::number);
  EXPECT_EQ(char_class('!'), CharClass::punctuation);
  EXPECT_EQ(char_class('_'), CharClass::punctuation);
  EXPECT_EQ(char_class('$'), CharClass::other);           // Sc
  EXPECT_EQ(char_class('`'), CharClass::other);           // Sk
  EXPECT_EQ(char_class(' '), CharClass::other);           // Zs
  EXPECT_EQ(char_class(0xE9), CharClass::letter);         // é
  EXPECT_EQ(char_class(0x43C), CharClass::letter);        // м
  EXPECT_EQ(char_class(0x4F60), CharClass::letter);       // 你 (a range given as First/Last)
  EXPECT_EQ(char_class(0xAC00), CharClass::letter);       // 가 (Hangul range)
  EXPECT_EQ(char_class(0x00B2), CharClass::number);       // ² (No)
  EXPECT_EQ(char_class(0x2167), CharClass::number);       // Ⅷ (Nl)
  EXPECT_EQ(char_class(0x0663), CharClass::number);       // Arabic-Indic three
  EXPECT_EQ(char_class(0x201C), CharClass::punctuation);  // “
  EXPECT_EQ(char_class(0x3002), CharClass::punctuation);  // 。
  EXPECT_EQ(char_class(0x0301), CharClass::other);        // combining acute (Mn)
  EXPECT_EQ(char_class(0x20AC), CharClass::other);        // € (Sc)
  EXPECT_EQ(char_class(0x1F600), CharClass::other);       // emoji (So)
  EXPECT_EQ(char_class(0x31350), CharClass::letter);      // CJK Extension H (Unicode 15.0)
  EXPECT_EQ(char_class(0x0378), CharClass::other);        // unassigned
  EXPECT_EQ(char_class(0x10FFFF), CharClass::other);
}

TEST(Unicode, WhitespaceIsTheWhiteSpaceProperty) {
  for (const CodePoint cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                             0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(is_whitespace(cp)) << cp;
  }
  for (const CodePoint cp : {0x08u, 0x0Eu, 0x1Fu, 0x21u, 0x84u, 0x200Bu, 0x2581u, 0xFEFFu}) {
    EXPECT_FALSE(is_whitespace(cp)) << cp;
  }
}

TEST(Unicode, DecodeReplacesEachInvalidByte) {
  EXPECT_EQ(decode_utf8("a\xC3\xA9z"), (std::vector<CodePoint>{'a', 0xE9, 'z'}));
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80"), (std::vector<CodePoint>{0x1F600}));
  // A stray continuation byte, a truncated sequence and a 0xFF: one U+FFFD per byte not consumed.
  EXPECT_EQ(decode_utf8("\x80"
                        "a"),
            (std::vector<CodePoint>{kReplacementChar, 'a'}));
  EXPECT_EQ(decode_utf8("\xE2\x96"), (std::vector<CodePoint>{kReplacementChar, kReplacementChar}));
  EXPECT_EQ(decode_utf8("\xFF"), (std::vector<CodePoint>{kReplacementChar}));
  // Above U+10FFFF: invalid.
  EXPECT_EQ(decode_utf8("\xF4\x90\x80\x80").size(), 4U);
  // Overlong forms decode as written, as llama.cpp does.
  EXPECT_EQ(decode_utf8("\xC0\x80"), (std::vector<CodePoint>{0}));
}

TEST(Unicode, SequenceLengthFromLeadByteOnly) {
  EXPECT_EQ(utf8_sequence_length('a'), 1U);
  EXPECT_EQ(utf8_sequence_length('\x80'), 1U);
  EXPECT_EQ(utf8_sequence_length('\xC3'), 2U);
  EXPECT_EQ(utf8_sequence_length('\xE2'), 3U);
  EXPECT_EQ(utf8_sequence_length('\xF0'), 4U);
  EXPECT_EQ(utf8_sequence_length('\xFF'), 4U);
}

TEST(Unicode, ByteMapIsGpt2s) {
  EXPECT_EQ(byte_to_code_point(' '), 0x120U);   // Ġ
  EXPECT_EQ(byte_to_code_point('\n'), 0x10AU);  // Ċ
  EXPECT_EQ(byte_to_code_point(0), 0x100U);
  EXPECT_EQ(byte_to_code_point(0x7F), 0x121U);
  EXPECT_EQ(byte_to_code_point(0xAD), 0x143U);  // the last remapped byte
  EXPECT_EQ(byte_to_code_point('a'), CodePoint{'a'});
  EXPECT_EQ(byte_to_code_point(0xE9), 0xE9U);
  for (unsigned b = 0; b < 256; ++b) EXPECT_EQ(code_point_to_byte(byte_to_code_point(static_cast<std::uint8_t>(b))), b);
  EXPECT_FALSE(code_point_to_byte(' ').has_value());  // a space is never in byte-mapped text
  EXPECT_FALSE(code_point_to_byte(0x144).has_value());
  EXPECT_EQ(byte_encode("a b\n"),
            "a\xC4\xA0"
            "b\xC4\x8A");
}

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(pre_tokenize("Hello world's 12345 test!!  \n\tx", PreTokenizer::gpt2),
            (Words{"Hello", " world", "'s", " 12345", " test", "!!", "  \n", "\t", "x"}));
  // Contractions are case-sensitive for GPT-2; a lone apostrophe is punctuation.
  EXPECT_EQ(pre_tokenize("DON'T don't", PreTokenizer::gpt2), (Words{"DON", "'", "T", " don", "'t"}));
  EXPECT_EQ(pre_tokenize("we'll 're", PreTokenizer::gpt2), (Words{"we", "'ll", " '", "re"}));
  EXPECT_EQ(pre_tokenize("hi  ", PreTokenizer::gpt2), (Words{"hi", "  "}));
  EXPECT_EQ(pre_tokenize("a  b", PreTokenizer::gpt2), (Words{"a", " ", " b"}));
  EXPECT_EQ(pre_tokenize("héllo мир 42", PreTokenizer::gpt2), (Words{"héllo", " мир", " 42"}));
  EXPECT_EQ(pre_tokenize("“Hi”", PreTokenizer::gpt2), (Words{"“", "Hi", "”"}));
  EXPECT_EQ(pre_tokenize("a\xFF"
                         "b",
                         PreTokenizer::gpt2),
            (Words{"a", "\xEF\xBF\xBD", "b"}));
  EXPECT_TRUE(pre_tokenize("", PreTokenizer::gpt2).empty());
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(pre_tokenize("Hello world's 12345 test!!  \n\tx", PreTokenizer::llama3),
            (Words{"Hello", " world", "'s", " ", "123", "45", " test", "!!", "  \n", "\tx"}));
  // (?i:'t): any ASCII case.
  EXPECT_EQ(pre_tokenize("DON'T", PreTokenizer::llama3), (Words{"DON", "'T"}));
  // Punctuation takes the newlines after it; whitespace ends after its last newline.
  EXPECT_EQ(pre_tokenize("x!!\n\ny", PreTokenizer::llama3), (Words{"x", "!!\n\n", "y"}));
  EXPECT_EQ(pre_tokenize("\n\n  hi", PreTokenizer::llama3), (Words{"\n\n", " ", " hi"}));
  // Any one non-letter, non-digit, non-newline code point may lead a word.
  EXPECT_EQ(pre_tokenize("“Hi” (ok)", PreTokenizer::llama3), (Words{"“Hi", "”", " (", "ok", ")"}));
  EXPECT_EQ(pre_tokenize("1234567", PreTokenizer::llama3), (Words{"123", "456", "7"}));
  EXPECT_EQ(pre_tokenize("héllo мир 42", PreTokenizer::llama3), (Words{"héllo", " мир", " ", "42"}));
  EXPECT_EQ(pre_tokenize("hi ", PreTokenizer::llama3), (Words{"hi", " "}));
  EXPECT_EQ(pre_tokenize("a \r\n b", PreTokenizer::llama3), (Words{"a", " \r\n", " b"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(pre_tokenize("Hello world's 12345 test!!  \n\tx", PreTokenizer::qwen2),
            (Words{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " test", "!!", "  \n", "\tx"}));
  EXPECT_EQ(pre_tokenize("x²3", PreTokenizer::qwen2), (Words{"x", "²", "3"}));
}

TEST(PreTokenizer, LlamaDefaultAppliesFourPasses) {
  EXPECT_EQ(pre_tokenize("Hello, world! 1234567 a+b=c $5", PreTokenizer::llama_default),
            (Words{"Hello", ",", " world", "!", " ", "123", "456", "7", " a", "+", "b", "=", "c", " ", "$", "5"}));
  // The punctuation pass runs first, so an apostrophe never starts a contraction.
  EXPECT_EQ(pre_tokenize("it's", PreTokenizer::llama_default), (Words{"it", "'", "s"}));
  // ` is a symbol (Sk), not in the first pass's class: GPT-2's pattern splits it.
  EXPECT_EQ(pre_tokenize("a`b", PreTokenizer::llama_default), (Words{"a", "`", "b"}));
  // Non-ASCII digits split from letters in the \p{N} pass; only ASCII digits group by three.
  EXPECT_EQ(pre_tokenize("x٣٤٥٦", PreTokenizer::llama_default), (Words{"x", "٣٤٥٦"}));
}

TEST(PreTokenizer, WordsConcatenateToValidInput) {
  const std::string text = "The 3 quick brown foxes—“jumped” over 1,000 lazy dogs' backs!\r\n\tÇa va?  Très bien.\n";
  for (const PreTokenizer kind :
       {PreTokenizer::llama_default, PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    std::string joined;
    for (const std::string& w : pre_tokenize(text, kind)) {
      EXPECT_FALSE(w.empty());
      joined += w;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(PreTokenizer, NamesMapToLlamaCppFamilies) {
  ASSERT_TRUE(find_pre_tokenizer("gpt-2").has_value());
  EXPECT_EQ(find_pre_tokenizer("gpt-2")->kind, PreTokenizer::gpt2);
  const auto llama3 = find_pre_tokenizer("llama-bpe");
  ASSERT_TRUE(llama3.has_value());
  EXPECT_EQ(llama3->kind, PreTokenizer::llama3);
  EXPECT_TRUE(llama3->ignore_merges);
  EXPECT_TRUE(llama3->add_bos);
  EXPECT_TRUE(llama3->clean_spaces);
  const auto qwen2 = find_pre_tokenizer("qwen2");
  ASSERT_TRUE(qwen2.has_value());
  EXPECT_EQ(qwen2->kind, PreTokenizer::qwen2);
  EXPECT_FALSE(qwen2->clean_spaces);
  EXPECT_FALSE(find_pre_tokenizer("deepseek-coder").has_value());
  EXPECT_NE(supported_pre_tokenizers().find("default, gpt-2"), std::string::npos);
}

TEST(Sha256Helper, KnownVectors) {
  auto sha = [](std::string_view s) { return test::sha256_hex(std::as_bytes(std::span(s.data(), s.size()))); };
  EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length no longer fits in the first padding block.
  EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

}  // namespace
}  // namespace quantlm::tokenizer
