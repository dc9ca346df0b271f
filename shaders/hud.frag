#version 330 core
// The HUD: a text texture drawn 1:1 into its own viewport, alpha-blended over the picture.

in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_text;  // RGBA, straight alpha, top row first

void main() {
    f_color = texture(u_text, vec2(v_uv.x, 1.0 - v_uv.y));
}
